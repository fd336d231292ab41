-- Uploaded media. The bytes live on disk under media_store_path, named by
-- their SHA-256 (identical uploads share a file); a row per media id.
-- server_name is the server the mxc URI names, so remote media can be
-- cached in the same table later.
CREATE TABLE media (
	server_name TEXT NOT NULL,
	media_id TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	content_type TEXT NOT NULL,
	filename TEXT NOT NULL,
	size BIGINT NOT NULL,
	uploader TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	-- A media id made by /media/v1/create waits for its content until
	-- expires_ts (sha256 is '' meanwhile); 0 once it has content.
	expires_ts BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (server_name, media_id)
);
CREATE INDEX media_uploader ON media (uploader);
CREATE INDEX media_sha256 ON media (sha256);

-- Scan verdicts by content, so identical files are scanned once.
CREATE TABLE scan_results (
	sha256 TEXT NOT NULL PRIMARY KEY,
	infected BOOLEAN NOT NULL,
	signature TEXT NOT NULL,
	scanned_ts BIGINT NOT NULL
);

-- Infected uploads: refused, the file kept aside under quarantine/ for
-- the administrators, never served.
CREATE TABLE quarantine (
	id {serial},
	sha256 TEXT NOT NULL,
	signature TEXT NOT NULL,
	uploader TEXT NOT NULL,
	filename TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size BIGINT NOT NULL,
	received_ts BIGINT NOT NULL
);
