-- Refresh tokens (spec v1.3; docs/decisions/0016). A device that logged in
-- with refresh_token: true has an access token that expires at
-- token_expires_ts (Unix ms; NULL: never) and a refresh token. POST
-- /refresh replaces both in the same row, so the device keeps its session
-- and its transaction ids; the refresh token it used stays valid as
-- prev_refresh_hash until the new access token or refresh token is used.
-- Like access tokens, refresh tokens are kept as SHA-256 hashes only.
ALTER TABLE devices ADD COLUMN token_expires_ts BIGINT;
ALTER TABLE devices ADD COLUMN refresh_hash {blob};
ALTER TABLE devices ADD COLUMN prev_refresh_hash {blob};
CREATE UNIQUE INDEX devices_refresh_hash ON devices (refresh_hash);
CREATE UNIQUE INDEX devices_prev_refresh_hash ON devices (prev_refresh_hash);
