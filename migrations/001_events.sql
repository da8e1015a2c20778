-- The event log as each node flushed it, and how far each node has flushed.
-- Keyed by (node, seq): sequence numbers are per node, so several nodes can share one database
-- and later tail each other's events by (node, seq > position).
CREATE TABLE events (
  node integer NOT NULL CHECK (node BETWEEN 0 AND 1023),
  seq bigint NOT NULL CHECK (seq > 0),
  type text NOT NULL,
  v integer NOT NULL,
  ts timestamptz NOT NULL,
  payload jsonb NOT NULL,
  PRIMARY KEY (node, seq)
);

CREATE INDEX events_type_ts_idx ON events (type, ts);

-- Written in the same transaction as the batch it ends, so a crash never leaves it behind the rows.
CREATE TABLE flush_positions (
  node integer PRIMARY KEY CHECK (node BETWEEN 0 AND 1023),
  seq bigint NOT NULL CHECK (seq >= 0),
  flushed_at timestamptz NOT NULL DEFAULT now()
);
