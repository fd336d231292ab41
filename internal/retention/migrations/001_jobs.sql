-- One row per retention job: who runs it now (the lease), when it is due
-- again, and how far the round in progress got. Written only by the
-- retention scheduler of whichever process holds the lease.
CREATE TABLE retention_jobs (
	name TEXT PRIMARY KEY,
	owner TEXT NOT NULL DEFAULT '',
	-- unix milliseconds; a lease that ran out may be taken by anyone
	lease_until BIGINT NOT NULL DEFAULT 0,
	-- unix milliseconds; 0 runs at once
	next_run BIGINT NOT NULL DEFAULT 0,
	-- when the round in progress began (0: none); its cutoffs are
	-- computed from this time, also after a resume
	round_started BIGINT NOT NULL DEFAULT 0,
	-- what the round in progress has done, in the job's own words
	progress TEXT NOT NULL DEFAULT '',
	last_finished BIGINT NOT NULL DEFAULT 0
);
