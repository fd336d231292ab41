-- Server-side key backups: versions with their public auth_data, and the
-- encrypted room keys of each version. The server cannot read the keys.
CREATE TABLE key_backup_versions (
	user_id TEXT NOT NULL,
	version BIGINT NOT NULL,
	algorithm TEXT NOT NULL,
	auth_data TEXT NOT NULL,
	-- etag changes whenever the version's keys change.
	etag BIGINT NOT NULL DEFAULT 0,
	deleted BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (user_id, version)
);

CREATE TABLE key_backup_keys (
	user_id TEXT NOT NULL,
	version BIGINT NOT NULL,
	room_id TEXT NOT NULL,
	session_id TEXT NOT NULL,
	first_message_index BIGINT NOT NULL,
	forwarded_count BIGINT NOT NULL,
	is_verified BOOLEAN NOT NULL,
	session_data TEXT NOT NULL,
	PRIMARY KEY (user_id, version, room_id, session_id)
);
