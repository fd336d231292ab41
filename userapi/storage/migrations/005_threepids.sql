-- Third-party identifiers (e-mail addresses) bound to accounts, and the
-- validation sessions that prove a user controls one. Addresses are
-- stored in the canonical form the userapi gives them (lower case).
CREATE TABLE threepids (
	medium TEXT NOT NULL,
	address TEXT NOT NULL,
	user_id TEXT NOT NULL,
	added_ts BIGINT NOT NULL,
	validated_ts BIGINT NOT NULL,
	PRIMARY KEY (medium, address)
);
CREATE INDEX threepids_user ON threepids (user_id);

-- One session per client secret and address. token_hash is the SHA-256 of
-- the token mailed out; validated_ts is 0 until the token came back.
CREATE TABLE threepid_sessions (
	sid TEXT NOT NULL PRIMARY KEY,
	client_secret TEXT NOT NULL,
	medium TEXT NOT NULL,
	address TEXT NOT NULL,
	token_hash {blob} NOT NULL,
	send_attempt BIGINT NOT NULL,
	next_link TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	validated_ts BIGINT NOT NULL
);
CREATE UNIQUE INDEX threepid_sessions_secret ON threepid_sessions (client_secret, medium, address);
