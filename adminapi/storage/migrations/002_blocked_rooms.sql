-- Rooms an admin blocked (PUT /_synapse/admin/v1/rooms/{roomId}/block):
-- local users cannot join them. A room unknown to the server can be
-- blocked ahead.
CREATE TABLE admin_blocked_rooms (
	room_id TEXT PRIMARY KEY,
	blocked_by TEXT NOT NULL,
	blocked_ts BIGINT NOT NULL
);
