-- Transaction ids of /sendToDevice are scoped to the sending device and
-- the endpoint (the event type is part of the path), as the spec has it
-- since v1.7; to_device_txns scoped them to the login (access token) and
-- left the event type out. Messages from other servers are kept once per
-- origin (user_id) and message_id (txn_id). to_device_txns is no longer
-- written and empties as its rows expire: sync replicas of the previous
-- version may still write it during an upgrade.
CREATE TABLE send_to_device_txns (
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	txn_id TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id, event_type, txn_id)
);
CREATE INDEX send_to_device_txns_created ON send_to_device_txns (created_ts);
