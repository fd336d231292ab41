-- The federation API's tables arrive in the numbered files after this one:
-- 001 server keys, 002 the send queue, 003 key responses by key.
SELECT 1;
