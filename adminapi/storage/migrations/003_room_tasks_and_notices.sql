-- The admin API's long room operations (DELETE /v2/rooms/{roomId},
-- POST /v1/purge_history): they run after the request has been answered,
-- and any client API process answers for their status, so it is kept
-- here. result is the delete's shutdown_room object (JSON), '{}' else.
CREATE TABLE admin_room_tasks (
	task_id TEXT PRIMARY KEY,
	kind TEXT NOT NULL,
	room_id TEXT NOT NULL,
	status TEXT NOT NULL,
	error TEXT NOT NULL DEFAULT '',
	result TEXT NOT NULL DEFAULT '{}',
	created_ts BIGINT NOT NULL,
	updated_ts BIGINT NOT NULL
);
CREATE INDEX admin_room_tasks_room ON admin_room_tasks (room_id, created_ts);

-- Server notices: each user's notices room, and the event each
-- transaction id of PUT /v1/send_server_notice/{txnId} sent, per admin.
CREATE TABLE admin_notice_rooms (
	user_id TEXT PRIMARY KEY,
	room_id TEXT NOT NULL
);
CREATE TABLE admin_notice_txns (
	admin_user_id TEXT NOT NULL,
	txn_id TEXT NOT NULL,
	event_id TEXT NOT NULL,
	PRIMARY KEY (admin_user_id, txn_id)
);
