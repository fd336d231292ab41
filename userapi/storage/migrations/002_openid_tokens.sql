-- OpenID tokens let other services (via federation) learn who a user is.
-- Like access tokens, only their SHA-256 is stored.
CREATE TABLE openid_tokens (
	token_hash {blob} PRIMARY KEY,
	user_id TEXT NOT NULL,
	expires_ts BIGINT NOT NULL
);
CREATE INDEX openid_tokens_expires ON openid_tokens (expires_ts);
