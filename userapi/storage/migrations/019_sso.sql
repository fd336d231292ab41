-- Single sign-on (docs/sso.md). user_external_ids links a user at an
-- identity provider (auth_provider is the provider's id, e.g.
-- oidc-keycloak; external_id its subject claim) to a local account, as
-- Synapse's table of the same name does. A login token and the device it
-- logs in remember the provider's session (OIDC "sid") they came from,
-- so that the provider's back-channel logout can end exactly those
-- devices.
CREATE TABLE user_external_ids (
	auth_provider TEXT NOT NULL,
	external_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	PRIMARY KEY (auth_provider, external_id)
);
CREATE INDEX user_external_ids_user ON user_external_ids (user_id);
ALTER TABLE login_tokens ADD COLUMN auth_provider_id TEXT;
ALTER TABLE login_tokens ADD COLUMN auth_provider_session_id TEXT;
ALTER TABLE devices ADD COLUMN auth_provider_id TEXT;
ALTER TABLE devices ADD COLUMN auth_provider_session_id TEXT;
CREATE INDEX devices_auth_provider ON devices (auth_provider_id, auth_provider_session_id);
