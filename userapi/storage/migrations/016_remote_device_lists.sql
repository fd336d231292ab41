-- Device lists across servers (docs/decisions/0012).
--
-- A key change names the device it is about when it is about one (a
-- login, a rename, new device keys, a deletion, a new signature of the
-- device); NULL means the user's cross-signing keys. Other servers hear
-- of a device change as m.device_list_update whose stream_id is the
-- change's position, of a cross-signing change as m.signing_key_update.
ALTER TABLE key_changes ADD COLUMN device_id TEXT;

-- How far the federation sender has gone through key_changes: changes of
-- local users after pos are still to be sent. Starts at the current
-- position, so changes from before the upgrade are not sent.
CREATE TABLE device_list_outbox (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	pos BIGINT NOT NULL
);
INSERT INTO device_list_outbox (id, pos) SELECT 1, pos FROM key_change_position;

-- The cache of other servers' users' device lists. A row here means the
-- list is tracked: stream_id is the last m.device_list_update applied (or
-- the snapshot's), room_pos the roomserver's stream position when the
-- snapshot was taken; the list is trusted only while a local user has
-- shared a room with the user continuously since then.
CREATE TABLE remote_device_lists (
	user_id TEXT NOT NULL PRIMARY KEY,
	stream_id BIGINT NOT NULL,
	room_pos BIGINT NOT NULL,
	updated_ts BIGINT NOT NULL
);

-- The newest stream_id of an update that came while a user's list was not
-- cached (or could not be applied): a snapshot fetched meanwhile must be at
-- least as new, or it would miss that update.
CREATE TABLE remote_device_list_seen (
	user_id TEXT NOT NULL PRIMARY KEY,
	stream_id BIGINT NOT NULL
);

-- The devices of tracked users, with their keys as their server signed
-- them (NULL: the device has no keys) and display names.
CREATE TABLE remote_device_keys (
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	display_name TEXT,
	key_json TEXT,
	PRIMARY KEY (user_id, device_id)
);

-- The master and self-signing keys of tracked users.
CREATE TABLE remote_cross_signing_keys (
	user_id TEXT NOT NULL,
	key_type TEXT NOT NULL,
	key_json TEXT NOT NULL,
	PRIMARY KEY (user_id, key_type)
);
