package roomserver

import (
	"context"
)

// TimestampEvent is an event of a room's timeline found by its time, in
// the form /timestamp_to_event answers with.
type TimestampEvent struct {
	EventID        string `json:"event_id"`
	OriginServerTS int64  `json:"origin_server_ts"`
}

// EventsNearTimestamp returns up to limit events of the room's timeline
// nearest ts: sent at or before it, newest first, or, forwards, at or
// after it, oldest first (the candidates of /timestamp_to_event; whoever
// asks skips those its asker may not see).
func (s *Server) EventsNearTimestamp(ctx context.Context, roomID string, ts int64, forwards bool, limit int) ([]TimestampEvent, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	evs, err := s.store.EventsNearTimestamp(ctx, r.nid, ts, forwards, min(max(limit, 1), 100))
	if err != nil {
		return nil, err
	}
	out := make([]TimestampEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, TimestampEvent{EventID: e.ID, OriginServerTS: e.OriginTS})
	}
	return out, nil
}
