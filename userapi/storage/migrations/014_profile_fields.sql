-- Profile fields beyond displayname and avatar_url (spec v1.16, MSC4133):
-- m.tz and custom fields, as one JSON object keyed by field name. A
-- profile is read and written whole, and is at most 64 KiB, so one
-- column is simpler than a row per field and costs nothing.
ALTER TABLE profiles ADD COLUMN fields TEXT NOT NULL DEFAULT '{}';
