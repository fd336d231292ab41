-- A user's dehydrated device (MSC3814): a device without a login that
-- other devices encrypt for while the user has none online, and its
-- encrypted state, which only the user's clients can read. The device
-- itself is a row of devices, so keys and to-device messages treat it
-- like any other; at most one per user.
CREATE TABLE dehydrated_devices (
	user_id TEXT PRIMARY KEY,
	device_id TEXT NOT NULL,
	device_data TEXT NOT NULL,
	created_ts BIGINT NOT NULL
);
