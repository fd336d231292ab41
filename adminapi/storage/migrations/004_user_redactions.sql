-- POST /_synapse/admin/v1/user/{userId}/redact runs after the request
-- has been answered; any client API process answers for its status
-- (GET /v1/user/redact_status/{redactId}), so it is kept here. failed is
-- a JSON object of event id to the error its redaction got.
CREATE TABLE admin_user_redactions (
	redact_id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL,
	admin_user_id TEXT NOT NULL,
	status TEXT NOT NULL,
	failed TEXT NOT NULL DEFAULT '{}',
	created_ts BIGINT NOT NULL,
	updated_ts BIGINT NOT NULL
);
