-- /keys/query reads the signatures of the users it is asked about; the
-- primary key starts with the signer.
CREATE INDEX key_signatures_target ON key_signatures (target_user_id, target_key_id);
