-- Per-user rate limits an admin set (POST /_synapse/admin/v1/users/
-- {userId}/override_ratelimit), Synapse's table of the same name: they
-- replace the per-user rc_* limits of the user's requests; 0 messages
-- per second means no limit.
CREATE TABLE ratelimit_override (
	user_id TEXT NOT NULL PRIMARY KEY,
	messages_per_second BIGINT NOT NULL,
	burst_count BIGINT NOT NULL
);
