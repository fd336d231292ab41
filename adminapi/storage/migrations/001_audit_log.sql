-- The admin API's audit log: one row per admin action (rohrpost's own
-- extension, docs/admin-api.md). The admin API is its only writer; rows
-- are never changed or deleted by the server.
CREATE TABLE admin_audit_log (
	audit_id {serial},
	ts BIGINT NOT NULL,
	admin_user_id TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	-- the HTTP status the action was answered with
	status INTEGER NOT NULL,
	-- what was asked, as a JSON object without secrets
	details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX admin_audit_log_admin ON admin_audit_log (admin_user_id, audit_id);
CREATE INDEX admin_audit_log_target ON admin_audit_log (target, audit_id);
