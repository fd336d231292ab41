-- Thread roots carry their thread's summary, so that serving an event
-- tells at once whether it has a thread (no query per event): the number
-- of m.thread replies and the stream position of the newest.
ALTER TABLE events ADD COLUMN thread_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN thread_latest BIGINT;
UPDATE events SET
	thread_count = (SELECT COUNT(*) FROM events r WHERE r.relates_to = events.event_id AND r.rel_type = 'm.thread' AND r.stream_pos IS NOT NULL),
	thread_latest = (SELECT MAX(r.stream_pos) FROM events r WHERE r.relates_to = events.event_id AND r.rel_type = 'm.thread')
	WHERE event_id IN (SELECT relates_to FROM events WHERE rel_type = 'm.thread' AND stream_pos IS NOT NULL);
CREATE INDEX events_room_threads ON events (room_nid, thread_latest) WHERE thread_latest IS NOT NULL;
