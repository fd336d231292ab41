-- State histories (history visibility changes, a user's memberships) are
-- looked up per room and key on every sync; without this they scan the
-- room's whole timeline.
CREATE INDEX events_room_state ON events (room_nid, type, state_key, stream_pos);
