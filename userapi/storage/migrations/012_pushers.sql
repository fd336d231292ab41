-- Pushers: where to send push notifications for a user (a push gateway
-- for one app on one phone). Each belongs to the login that set it up
-- (session_id) and goes when that login ends.
CREATE TABLE pushers (
	user_id TEXT NOT NULL,
	session_id BIGINT NOT NULL,
	app_id TEXT NOT NULL,
	pushkey TEXT NOT NULL,
	kind TEXT NOT NULL,
	app_display_name TEXT NOT NULL,
	device_display_name TEXT NOT NULL,
	profile_tag TEXT NOT NULL,
	lang TEXT NOT NULL,
	-- the client's data object, forwarded to the gateway without url
	data TEXT NOT NULL,
	created_ts BIGINT NOT NULL,
	PRIMARY KEY (user_id, app_id, pushkey)
);
CREATE INDEX pushers_app_pushkey ON pushers (app_id, pushkey);
CREATE INDEX pushers_session ON pushers (session_id);
