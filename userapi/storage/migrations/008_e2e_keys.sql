-- End-to-end encryption keys. The server stores and hands them out; it
-- never holds a private key.
CREATE TABLE device_keys (
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	key_json TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id)
);

-- One-time keys are handed out once each (claimed rows are deleted).
CREATE TABLE one_time_keys (
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	key_id TEXT NOT NULL,
	key_json TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id, algorithm, key_id)
);

-- The fallback key per algorithm, handed out when no one-time key is
-- left; used marks that it was.
CREATE TABLE fallback_keys (
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	key_id TEXT NOT NULL,
	key_json TEXT NOT NULL,
	used BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (user_id, device_id, algorithm)
);

-- Cross-signing keys: master, self_signing, user_signing.
CREATE TABLE cross_signing_keys (
	user_id TEXT NOT NULL,
	key_type TEXT NOT NULL,
	key_json TEXT NOT NULL,
	PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded separately (/keys/signatures/upload): who signed
-- which key (a device id or a cross-signing key's public key).
CREATE TABLE key_signatures (
	signer_user_id TEXT NOT NULL,
	signer_key_id TEXT NOT NULL,
	target_user_id TEXT NOT NULL,
	target_key_id TEXT NOT NULL,
	signature TEXT NOT NULL,
	PRIMARY KEY (signer_user_id, signer_key_id, target_user_id, target_key_id)
);

-- One row per change of a user's device list or keys: the stream
-- /sync's device_lists and /keys/changes follow. Positions are allocated
-- in commit order (keys.go), from key_change_position.
-- only_for, when set, is the one user told of the change: the owner of a
-- new user-signing key, the signer of another user's master key.
CREATE TABLE key_changes (
	pos BIGINT NOT NULL PRIMARY KEY,
	user_id TEXT NOT NULL,
	only_for TEXT
);
CREATE INDEX key_changes_user ON key_changes (user_id, pos);
CREATE TABLE key_change_position (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	pos BIGINT NOT NULL
);
INSERT INTO key_change_position (id, pos) VALUES (1, 0);
