-- What /search matches: the lower-cased content.body of messages,
-- content.name of room names and content.topic of topics; NULL for other
-- events and after a redaction. Rows stored before get it from a
-- backfill the roomserver runs on start (search_text = '' marks an event
-- with nothing to find).
ALTER TABLE events ADD COLUMN search_text TEXT;
CREATE INDEX events_search ON events (room_nid, stream_pos) WHERE search_text IS NOT NULL AND search_text != '';
