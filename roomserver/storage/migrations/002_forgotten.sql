-- A user who forgot a room no longer sees it in /sync's leave section; a
-- new membership event clears the flag.
ALTER TABLE memberships ADD COLUMN forgotten SMALLINT NOT NULL DEFAULT 0;
