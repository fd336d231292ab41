-- Receipts: the newest receipt of each (room, user, type, thread).
CREATE TABLE receipts (
	stream_pos BIGINT NOT NULL,
	room_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	receipt_type TEXT NOT NULL,
	thread_id TEXT NOT NULL DEFAULT '',
	event_id TEXT NOT NULL,
	event_pos BIGINT NOT NULL,
	ts BIGINT NOT NULL,
	PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_stream ON receipts (stream_pos);
CREATE INDEX receipts_room ON receipts (room_id, stream_pos);
