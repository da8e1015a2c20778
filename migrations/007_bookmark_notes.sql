-- Notes: a bookmark owner's Markdown notes (linkding's `notes`), up to 10,000 characters; empty when none.
ALTER TABLE bookmarks ADD COLUMN notes text NOT NULL DEFAULT '';
