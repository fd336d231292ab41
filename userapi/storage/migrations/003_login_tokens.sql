-- Short-lived single-use login tokens (m.login.token), handed out after a
-- single sign-on. Only their SHA-256 is stored.
CREATE TABLE login_tokens (
	token_hash {blob} PRIMARY KEY,
	user_id TEXT NOT NULL,
	expires_ts BIGINT NOT NULL
);
