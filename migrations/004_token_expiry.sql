-- Sessions expire (token.created v2 carries expires_at); API tokens have none and last until revoked.
ALTER TABLE tokens ADD COLUMN expires_at timestamptz;
