-- What the admin API shows of a destination (Synapse's
-- /_synapse/admin/v1/federation/destinations): when it began to fail
-- (NULL while it works), when a transaction to it last failed, and the
-- stream position of the newest PDU it accepted (NULL before the first).
ALTER TABLE federation_queue_destinations ADD COLUMN failure_ts BIGINT;
ALTER TABLE federation_queue_destinations ADD COLUMN last_failed_ts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE federation_queue_destinations ADD COLUMN last_success_pos BIGINT;
