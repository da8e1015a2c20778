-- Roles (issue 13): the first account of a fresh server is "admin" (user.registered's role); everyone else "member".
ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member'));
