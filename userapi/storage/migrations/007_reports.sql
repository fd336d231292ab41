-- Content users reported to the server's administrators: an event, a
-- room or a user. Admins read them through the admin API.
CREATE TABLE reports (
	report_id {serial},
	reporter TEXT NOT NULL,
	room_id TEXT NOT NULL DEFAULT '',
	event_id TEXT NOT NULL DEFAULT '',
	user_id TEXT NOT NULL DEFAULT '',
	reason TEXT NOT NULL,
	received_ts BIGINT NOT NULL
);
