-- The signing keys of other servers, as the key ring learnt them. Rows are
-- never deleted: an expired key still verifies the events it signed. A key
-- is current while expired_ts is 0 (and until valid_until_ts); once a
-- server lists it under old_verify_keys, expired_ts says when it stopped.
CREATE TABLE IF NOT EXISTS federation_server_keys (
    server_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    verify_key {blob} NOT NULL,
    valid_until_ts {bigint} NOT NULL,
    expired_ts {bigint} NOT NULL,
    PRIMARY KEY (server_name, key_id)
);

-- The newest /_matrix/key/v2/server response of each server, exactly as
-- that server signed it: the notary passes it on with our countersignature.
CREATE TABLE IF NOT EXISTS federation_server_key_responses (
    server_name TEXT NOT NULL PRIMARY KEY,
    response TEXT NOT NULL,
    valid_until_ts {bigint} NOT NULL,
    fetched_ts {bigint} NOT NULL
);
