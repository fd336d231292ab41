-- The userapi is the only writer of these tables.

CREATE TABLE accounts (
	user_id TEXT PRIMARY KEY,
	-- bcrypt hash; empty when the account has no password (guests,
	-- deactivated accounts, accounts made for application services)
	password_hash TEXT NOT NULL DEFAULT '',
	is_guest BOOLEAN NOT NULL DEFAULT FALSE,
	is_admin BOOLEAN NOT NULL DEFAULT FALSE,
	deactivated BOOLEAN NOT NULL DEFAULT FALSE,
	created_ts BIGINT NOT NULL
);

-- One row per logged-in device. session_id changes when a device id is
-- logged into again, so caches keyed by it never confuse two logins.
CREATE TABLE devices (
	session_id {serial},
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	display_name TEXT,
	-- SHA-256 of the access token; the token itself is never stored
	token_hash {blob} NOT NULL,
	created_ts BIGINT NOT NULL,
	last_seen_ts BIGINT,
	last_seen_ip TEXT,
	last_seen_user_agent TEXT
);
CREATE UNIQUE INDEX devices_token_hash ON devices (token_hash);
CREATE UNIQUE INDEX devices_user_device ON devices (user_id, device_id);

CREATE TABLE profiles (
	user_id TEXT PRIMARY KEY,
	displayname TEXT NOT NULL DEFAULT '',
	avatar_url TEXT NOT NULL DEFAULT ''
);

-- room_id is '' for global account data. stream_pos is assigned inside the
-- write as one more than the table's highest, so it only grows; an update
-- moves the row to the new position.
CREATE TABLE account_data (
	user_id TEXT NOT NULL,
	room_id TEXT NOT NULL,
	type TEXT NOT NULL,
	content TEXT NOT NULL,
	stream_pos BIGINT NOT NULL,
	PRIMARY KEY (user_id, room_id, type)
);
CREATE UNIQUE INDEX account_data_stream_pos ON account_data (stream_pos);
CREATE INDEX account_data_user_pos ON account_data (user_id, stream_pos);

-- filter_id counts up per user from 0.
CREATE TABLE filters (
	user_id TEXT NOT NULL,
	filter_id BIGINT NOT NULL,
	filter TEXT NOT NULL,
	PRIMARY KEY (user_id, filter_id)
);
