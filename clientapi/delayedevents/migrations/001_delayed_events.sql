-- Delayed events (MSC4140): events a client asked the server to send
-- later. A row stays after it is finalised (sent, cancelled or failed)
-- so that a client can look the outcome up, and is pruned after a week.
--
-- status is scheduled, sent, cancelled or failed. A scheduled row with
-- claimed_by set is being sent by that process, until claim_until; a
-- scheduled row with claim_until but no claimer waits after a failure
-- that may pass (the room server unreachable) until then.
CREATE TABLE delayed_events (
	delay_id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	-- txn is the scheduling request's transaction (endpoint and id):
	-- a retried PUT gets the same delay_id back. Empty without one.
	txn TEXT NOT NULL,
	room_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	state_key TEXT,
	content TEXT NOT NULL,
	delay_ms BIGINT NOT NULL,
	scheduled_ts BIGINT NOT NULL,
	send_ts BIGINT NOT NULL,
	status TEXT NOT NULL,
	claimed_by TEXT,
	claim_until BIGINT,
	attempts INTEGER NOT NULL DEFAULT 0,
	event_id TEXT,
	error TEXT,
	finalised_ts BIGINT
);
CREATE INDEX delayed_events_due ON delayed_events (status, send_ts);
CREATE INDEX delayed_events_user ON delayed_events (user_id, status, send_ts);
CREATE INDEX delayed_events_state ON delayed_events (room_id, event_type, state_key);
CREATE UNIQUE INDEX delayed_events_txn ON delayed_events (user_id, device_id, txn) WHERE txn <> '';
