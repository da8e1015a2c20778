-- Cluster mode (NASTY_CLUSTER=on): the one commit-ordered log every node follows, the leader's epoch, and
-- the request ids of forwarded writes. Unused (and empty) on a single node.
CREATE TABLE log (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  -- The leader's epoch when it committed this row: epochs never decrease along seq.
  epoch bigint NOT NULL,
  type text NOT NULL,
  v integer NOT NULL,
  -- Milliseconds since 1970, exactly as the stores fold it.
  ts bigint NOT NULL,
  node integer NOT NULL,
  -- The payload as JSON text, byte for byte as the leader wrote it (jsonb would reorder keys).
  payload text NOT NULL
);

-- One row: the current epoch and who holds it. A new leader bumps the epoch; every append checks it.
CREATE TABLE cluster_leader (
  id integer PRIMARY KEY CHECK (id = 1),
  epoch bigint NOT NULL,
  node integer,
  url text,
  since timestamptz NOT NULL DEFAULT now()
);
INSERT INTO cluster_leader (id, epoch) VALUES (1, 0);

-- A forwarded write's request id and the last seq it committed: a retry after a leader change is not applied twice.
CREATE TABLE cluster_requests (
  request_id text PRIMARY KEY,
  seq bigint NOT NULL
);
