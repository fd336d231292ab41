-- Media of other servers is cached in the media table under the other
-- server's name (uploader ''). A remote file the virus scanner refused is
-- recorded here instead: it is never served and never fetched again.
CREATE TABLE remote_media_refused (
	server_name TEXT NOT NULL,
	media_id TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	signature TEXT NOT NULL,
	refused_ts BIGINT NOT NULL,
	PRIMARY KEY (server_name, media_id)
);
