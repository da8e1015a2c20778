-- Relational tables mirroring the in-memory store (the original Phoenix app's schema, plus tokens).
-- Ids come from the events (unique across nodes); only tags get their ids here.
CREATE TABLE users (
  id bigint PRIMARY KEY,
  username text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  inserted_at timestamptz NOT NULL
);

-- API and session tokens: only the hash of each secret is ever stored.
CREATE TABLE tokens (
  id bigint PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  hash text NOT NULL UNIQUE,
  kind text NOT NULL CHECK (kind IN ('api', 'session')),
  name text NOT NULL,
  inserted_at timestamptz NOT NULL
);
CREATE INDEX tokens_user_id_idx ON tokens (user_id);

CREATE TABLE bookmarks (
  id bigint PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  url text NOT NULL,
  title text NOT NULL,
  description text NOT NULL DEFAULT '',
  public boolean NOT NULL DEFAULT true,
  inserted_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX bookmarks_public_idx ON bookmarks (public, inserted_at DESC);
CREATE INDEX bookmarks_user_id_idx ON bookmarks (user_id, inserted_at DESC);
CREATE INDEX bookmarks_url_idx ON bookmarks (url);

-- Tags in use: a tag no bookmark carries any more is removed, as in the store.
CREATE TABLE tags (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE
);

-- One row per bookmark–tag pair; position keeps the order the tags were given in.
CREATE TABLE bookmark_tags (
  bookmark_id bigint NOT NULL REFERENCES bookmarks (id) ON DELETE CASCADE,
  tag_id bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  position smallint NOT NULL,
  PRIMARY KEY (bookmark_id, tag_id)
);
CREATE INDEX bookmark_tags_tag_id_idx ON bookmark_tags (tag_id);

CREATE TABLE comments (
  id bigint PRIMARY KEY,
  bookmark_id bigint NOT NULL REFERENCES bookmarks (id) ON DELETE CASCADE,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  body text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 1000),
  inserted_at timestamptz NOT NULL
);
CREATE INDEX comments_bookmark_id_idx ON comments (bookmark_id, inserted_at);
CREATE INDEX comments_user_id_idx ON comments (user_id);
