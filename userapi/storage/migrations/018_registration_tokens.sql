-- Registration tokens (spec v1.2 m.login.registration_token; Synapse's
-- admin API /v1/registration_tokens). uses_allowed NULL: unlimited;
-- expiry_time (Unix ms) NULL: never. completed counts the registrations
-- the token finished; the uses in progress are the unexpired rows of
-- registration_token_pending, one per user-interactive auth session that
-- passed the stage, so a session that is abandoned frees its use when it
-- expires.
CREATE TABLE registration_tokens (
	token TEXT PRIMARY KEY,
	uses_allowed INTEGER,
	completed INTEGER NOT NULL DEFAULT 0,
	expiry_time BIGINT
);
CREATE TABLE registration_token_pending (
	session_id TEXT PRIMARY KEY,
	token TEXT NOT NULL,
	expires_ts BIGINT NOT NULL
);
CREATE INDEX registration_token_pending_token ON registration_token_pending (token, expires_ts);
