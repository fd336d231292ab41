-- A hole is history missing in the middle of a room's timeline: an event
-- came from another server whose prev events we could not fetch, and it
-- was judged on the state that server gave. The stream positions right
-- below the event were left free for the missing history (floor_pos <
-- pos <= next_pos), which a client paging back over the event fetches
-- (/backfill from the missing events) into them, newest first.
CREATE TABLE timeline_holes (
	event_nid BIGINT PRIMARY KEY,
	room_nid BIGINT NOT NULL,
	event_id TEXT NOT NULL,
	event_pos BIGINT NOT NULL,
	next_pos BIGINT NOT NULL,
	floor_pos BIGINT NOT NULL,
	-- JSON array of the ids of the events at the hole's upper edge that
	-- we lack: where the next /backfill starts.
	missing TEXT NOT NULL
);
CREATE INDEX timeline_holes_room ON timeline_holes (room_nid, event_pos);
CREATE INDEX timeline_holes_event ON timeline_holes (event_id);
