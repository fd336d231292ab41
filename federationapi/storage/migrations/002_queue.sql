-- The durable outbound queue (docs/decisions/0011-federation-send-queue.md).
-- A PDU or EDU is written once into federation_queue_bodies and once per
-- destination into federation_queue, in the same transaction, before the
-- bus message it came from is acknowledged. Rows leave when the
-- destination accepted the transaction that carried them; a body leaves
-- with its last row.

CREATE TABLE federation_queue_bodies (
	body_nid {serial},
	body {blob} NOT NULL
);

CREATE TABLE federation_queue (
	queue_nid {serial},
	destination TEXT NOT NULL,
	-- the local server name that sends it: the transaction's origin
	origin TEXT NOT NULL,
	-- 0 a PDU, 1 an EDU
	kind SMALLINT NOT NULL,
	-- room_id, event_id and stream_pos are set for PDUs only. PDUs go out
	-- in stream order (the roomserver's commit order), whichever replica
	-- queued them first; EDUs in queue order.
	room_id TEXT NOT NULL DEFAULT '',
	event_id TEXT NOT NULL DEFAULT '',
	stream_pos BIGINT NOT NULL DEFAULT 0,
	body_nid BIGINT NOT NULL,
	-- set when the row is put into a transaction; the transaction is
	-- resent with this id, by whichever process holds the lease, until the
	-- destination accepts it
	txn_id TEXT
);
CREATE INDEX federation_queue_next ON federation_queue (destination, kind, stream_pos, queue_nid);
CREATE INDEX federation_queue_txn ON federation_queue (destination, txn_id) WHERE txn_id IS NOT NULL;
CREATE INDEX federation_queue_body ON federation_queue (body_nid);
-- A bus message delivered twice (the process died between commit and
-- acknowledgement) queues its PDU once.
CREATE UNIQUE INDEX federation_queue_event ON federation_queue (destination, event_id) WHERE kind = 0;

-- One row per destination ever queued for: who sends to it (the lease)
-- and its backoff, which survives the owner so that a new owner does not
-- hammer a server that is down.
CREATE TABLE federation_queue_destinations (
	destination TEXT PRIMARY KEY,
	owner TEXT NOT NULL DEFAULT '',
	-- unix milliseconds; a lease that ran out may be taken by anyone
	lease_until BIGINT NOT NULL DEFAULT 0,
	failures INTEGER NOT NULL DEFAULT 0,
	retry_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX federation_queue_destinations_owner ON federation_queue_destinations (owner);
