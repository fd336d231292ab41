-- The roomserver is the only writer of these tables. Numeric ids (nids)
-- are assigned by the roomserver's input loop, which is the single writer.

CREATE TABLE rooms (
	room_nid BIGINT PRIMARY KEY,
	room_id TEXT NOT NULL UNIQUE,
	room_version TEXT NOT NULL,
	snapshot_nid BIGINT NOT NULL DEFAULT 0,
	snapshot_chain BIGINT NOT NULL DEFAULT 0,
	extremities TEXT NOT NULL DEFAULT '[]',
	depth BIGINT NOT NULL DEFAULT 0,
	visibility TEXT NOT NULL DEFAULT 'private'
);

CREATE TABLE events (
	event_nid BIGINT PRIMARY KEY,
	room_nid BIGINT NOT NULL,
	event_id TEXT NOT NULL UNIQUE,
	-- position in the global stream of accepted events; NULL for outliers
	-- and rejected events, which clients never see
	stream_pos BIGINT,
	type TEXT NOT NULL,
	state_key TEXT,
	sender TEXT NOT NULL,
	depth BIGINT NOT NULL,
	origin_ts BIGINT NOT NULL,
	snapshot_before BIGINT NOT NULL,
	membership TEXT,
	rejected SMALLINT NOT NULL DEFAULT 0,
	redacted SMALLINT NOT NULL DEFAULT 0,
	relates_to TEXT,
	rel_type TEXT,
	-- txn_session/txn_id identify the sending device's transaction so that
	-- the sender's own copy can carry unsigned.transaction_id
	txn_session BIGINT,
	txn_id TEXT,
	pdu {blob} NOT NULL,
	client {blob} NOT NULL
);
CREATE UNIQUE INDEX events_stream_pos ON events (stream_pos);
CREATE INDEX events_room_stream ON events (room_nid, stream_pos);
CREATE INDEX events_relates_to ON events (relates_to);

-- State snapshots are stored as deltas against a parent snapshot; every so
-- often a full snapshot (parent 0) bounds the chain.
CREATE TABLE state_snapshots (
	snapshot_nid BIGINT PRIMARY KEY,
	room_nid BIGINT NOT NULL,
	parent_nid BIGINT NOT NULL,
	delta TEXT NOT NULL
);

CREATE TABLE current_state (
	room_nid BIGINT NOT NULL,
	type TEXT NOT NULL,
	state_key TEXT NOT NULL,
	event_nid BIGINT NOT NULL,
	PRIMARY KEY (room_nid, type, state_key)
);

CREATE TABLE memberships (
	room_nid BIGINT NOT NULL,
	user_id TEXT NOT NULL,
	membership TEXT NOT NULL,
	event_nid BIGINT NOT NULL,
	stream_pos BIGINT NOT NULL,
	PRIMARY KEY (room_nid, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, stream_pos);

CREATE TABLE transactions (
	txn_session BIGINT NOT NULL,
	txn_id TEXT NOT NULL,
	event_id TEXT NOT NULL,
	PRIMARY KEY (txn_session, txn_id)
);

CREATE TABLE room_aliases (
	alias TEXT PRIMARY KEY,
	room_id TEXT NOT NULL,
	creator TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);
