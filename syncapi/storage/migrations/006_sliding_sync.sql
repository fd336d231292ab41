-- Simplified Sliding Sync (MSC4186) connections, per user, device and
-- conn_id, so that any sync server can continue a connection and it
-- survives restarts (decision 0015). conn_nid is random, so that a pos of
-- an expired connection never names a new one.
CREATE TABLE sliding_connections (
	conn_nid BIGINT PRIMARY KEY,
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	conn_id TEXT NOT NULL,
	-- the newest position the client confirmed by sending it back
	acked_pos BIGINT NOT NULL,
	next_pos BIGINT NOT NULL,
	last_used_ts BIGINT NOT NULL,
	UNIQUE (user_id, device_id, conn_id)
);
CREATE INDEX sliding_connections_last_used ON sliding_connections (last_used_ts);

-- One row per response the server gave: the stream token it reached and
-- a hash of its lists, to tell an unchanged list from a changed one.
CREATE TABLE sliding_positions (
	conn_nid BIGINT NOT NULL,
	pos BIGINT NOT NULL,
	token TEXT NOT NULL,
	lists_hash TEXT NOT NULL,
	PRIMARY KEY (conn_nid, pos)
);

-- What a connection has sent of a room, written by the response of
-- position pos. The state at position P is, per room, the row with the
-- highest pos <= P; when the client confirms P, older rows of the rooms P
-- wrote and every row of a position after P (responses it never got) go.
CREATE TABLE sliding_rooms (
	conn_nid BIGINT NOT NULL,
	room_id TEXT NOT NULL,
	pos BIGINT NOT NULL,
	-- the stream position up to which the room's timeline and state were sent
	sent_to BIGINT NOT NULL,
	required_state TEXT NOT NULL,
	timeline_limit INTEGER NOT NULL,
	-- members sent through $LAZY, a JSON array
	lazy_members TEXT NOT NULL,
	PRIMARY KEY (conn_nid, room_id, pos)
);
