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
	PRIMARY KEY (server_name, media_id)
);
CREATE INDEX media_sha256 ON media (sha256);
