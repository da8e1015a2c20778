-- Cluster mode: the state at one seq, shared through Postgres so the log behind it can be cut (deleted means
-- erased). The leader stores its snapshot file here in pieces, then, in one transaction that checks its epoch,
-- marks it current and deletes the log rows before its seq (the row at its seq stays: the log's start).
-- A node whose applied seq is behind the log's start loads the current snapshot instead of replaying.
CREATE TABLE cluster_snapshots (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  -- The leader's epoch and node that stored it.
  epoch bigint NOT NULL,
  node integer NOT NULL,
  -- The snapshot file (src/log/snapshot-file.ts format), its length and SHA-256 over all its bytes.
  bytes bigint NOT NULL,
  sha256 text NOT NULL,
  pieces integer NOT NULL,
  -- At most one is current: the one the log was cut behind. Others are being stored (or were left by a deposed leader).
  current boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX cluster_snapshots_current_idx ON cluster_snapshots (current) WHERE current;

-- The file's bytes in pieces of at most 16 MiB, in order.
CREATE TABLE cluster_snapshot_pieces (
  seq bigint NOT NULL REFERENCES cluster_snapshots (seq) ON DELETE CASCADE,
  piece integer NOT NULL CHECK (piece >= 0),
  data bytea NOT NULL,
  PRIMARY KEY (seq, piece)
);
-- Stored as is, not compressed: a piece is read whole once, and what it holds stays searchable in the pages (the erasure test reads them).
ALTER TABLE cluster_snapshot_pieces ALTER COLUMN data SET STORAGE EXTERNAL;
