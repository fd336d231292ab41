-- A shadow-banned account (POST /_synapse/admin/v1/users/{userId}/
-- shadow_ban, Synapse's users.shadow_banned): its sends are answered as
-- if they succeeded and reach nobody (clientapi/shadow_ban.go).
ALTER TABLE accounts ADD COLUMN shadow_banned BOOLEAN NOT NULL DEFAULT FALSE;
