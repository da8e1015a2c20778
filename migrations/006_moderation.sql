-- Moderation (issue 13): roles, suspension, sign-up mode switched at run time, invitations.
ALTER TABLE users ADD COLUMN IF NOT EXISTS role text NOT NULL DEFAULT 'member';
ALTER TABLE users ADD COLUMN IF NOT EXISTS suspended boolean NOT NULL DEFAULT false;

-- One row per setting; `signup` holds open, closed or invite once an admin switched it.
CREATE TABLE settings (
  name text PRIMARY KEY,
  value text NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Unused invitations (the hash of the secret in the link); a sign-up that uses one deletes it.
CREATE TABLE invites (
  id bigint PRIMARY KEY,
  hash text NOT NULL UNIQUE,
  created_by bigint REFERENCES users (id) ON DELETE SET NULL,
  inserted_at timestamptz NOT NULL
);
