-- Each device's inbox of to-device messages. pos is the message's stream
-- position, allocated in commit order (see todevice.go); a message is
-- deleted once the device syncs with a token past it.
CREATE TABLE to_device (
	pos BIGINT NOT NULL PRIMARY KEY,
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	sender TEXT NOT NULL,
	type TEXT NOT NULL,
	content TEXT NOT NULL,
	created_ts BIGINT NOT NULL
);
CREATE INDEX to_device_inbox ON to_device (user_id, device_id, pos);

-- Transaction ids of /sendToDevice per sending device (its session), so a
-- retried request sends nothing twice.
CREATE TABLE to_device_txns (
	session_id BIGINT NOT NULL,
	txn_id TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	PRIMARY KEY (session_id, txn_id)
);

-- The highest position ever allocated, so that positions never repeat
-- after the inbox is emptied.
CREATE TABLE to_device_position (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	pos BIGINT NOT NULL
);
INSERT INTO to_device_position (id, pos) VALUES (1, 0);
