-- Rooms a device peeks into without joining (MSC2753). A peek that ends
-- stays as a row with active false and a new position, so positions only
-- grow and a later peek of the same room is new to the device's syncs.
CREATE TABLE peeks (
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	room_id TEXT NOT NULL,
	active BOOLEAN NOT NULL,
	stream_pos BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id, room_id)
);
CREATE INDEX peeks_stream ON peeks (stream_pos);
