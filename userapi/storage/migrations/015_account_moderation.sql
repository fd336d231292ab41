-- Account locking and suspension (spec v1.12/v1.13, admin endpoints in
-- v1.18): both reversible, unlike deactivation. A locked account can only
-- log out; a suspended one can read but not act in rooms.
ALTER TABLE accounts ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE;
