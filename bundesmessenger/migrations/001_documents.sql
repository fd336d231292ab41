-- Documents the apps read that an admin replaced at runtime (the
-- maintenance document); one row per document, shared by every process.
CREATE TABLE IF NOT EXISTS bundesmessenger_documents (
    name TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    updated_ts BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
