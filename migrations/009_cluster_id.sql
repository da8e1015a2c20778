-- Cluster mode: the cluster's identity, random, made once per database (here for one that already has a cluster).
-- A node records it in its data directory when it first joins and refuses to start against a database of another
-- cluster: a data directory of one cluster must not follow (and serve) another cluster's log.
ALTER TABLE cluster_leader ADD COLUMN cluster_id uuid NOT NULL DEFAULT gen_random_uuid();
