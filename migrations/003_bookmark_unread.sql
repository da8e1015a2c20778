-- Read later: the "to read" flag of a bookmark (Pinboard's toread, linkding's unread).
ALTER TABLE bookmarks ADD COLUMN unread boolean NOT NULL DEFAULT false;
CREATE INDEX bookmarks_unread_idx ON bookmarks (user_id) WHERE unread;
