-- When an event destroys itself (MSC2228, content
-- org.matrix.self_destruct_after): the roomserver prunes it then, as if
-- redacted, and clears the column. NULL for almost every event.
ALTER TABLE events ADD COLUMN self_destruct_ts BIGINT;
CREATE INDEX events_self_destruct ON events (self_destruct_ts) WHERE self_destruct_ts IS NOT NULL;
