-- Client transaction ids are scoped to the device and the endpoint (the
-- request path with its room and event type, or the redacted event), as
-- the spec has it since v1.7. transactions scoped them to the login
-- (access token) and left the path out: the same id in another room
-- answered with the first room's event. Its rows scoped nothing a client
-- retries across an upgrade.
CREATE TABLE client_txns (
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	endpoint TEXT NOT NULL,
	txn_id TEXT NOT NULL,
	event_id TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id, endpoint, txn_id)
);
DROP TABLE transactions;
