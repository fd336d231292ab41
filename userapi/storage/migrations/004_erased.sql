-- Accounts deactivated with erase: true. Their events are served redacted
-- to users who could not see them before the erasure.
ALTER TABLE accounts ADD COLUMN erased BOOLEAN NOT NULL DEFAULT FALSE;
