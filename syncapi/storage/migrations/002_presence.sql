-- The newest presence of each local user.
CREATE TABLE presence (
	user_id TEXT PRIMARY KEY,
	presence TEXT NOT NULL,
	status_msg TEXT,
	last_active_ts BIGINT NOT NULL,
	stream_pos BIGINT NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_pos);
