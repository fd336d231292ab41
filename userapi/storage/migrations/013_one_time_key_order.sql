-- /keys/claim hands one-time keys out in the order they were uploaded
-- (MSC4225): a client forgets its oldest unclaimed keys first, so a key
-- handed out after it was forgotten means a message nobody can decrypt.
-- upload_seq numbers a device's uploads; keys stored before it existed
-- count as the oldest.
ALTER TABLE one_time_keys ADD COLUMN upload_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX one_time_keys_order ON one_time_keys (user_id, device_id, algorithm, upload_seq, key_id);
