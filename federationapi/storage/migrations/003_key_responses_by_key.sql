-- Each key of another server with the newest response of that server that
-- holds it, exactly as signed: the notary answers a question about one key
-- with a response that has it, even after the server stopped listing it
-- (its newest response, in federation_server_key_responses, may not).
-- Responses stored before this table are found there.
CREATE TABLE IF NOT EXISTS federation_server_key_responses_by_key (
    server_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    response TEXT NOT NULL,
    valid_until_ts {bigint} NOT NULL,
    fetched_ts {bigint} NOT NULL,
    PRIMARY KEY (server_name, key_id)
);
