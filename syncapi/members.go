package syncapi

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// handleMembers is GET /rooms/{roomId}/members with at, membership and
// not_membership.
func (s *Server) handleMembers(r *http.Request, dev *userapi.Device) (any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	a, err := s.access(ctx, dev, mux.Vars(r)["roomId"])
	if err != nil {
		return nil, err
	}
	at := a.upto
	if v := q.Get("at"); v != "" {
		tok, err := ParseToken(v)
		if err != nil {
			return nil, mxhttp.InvalidParam("at is not a valid token")
		}
		at = min(at, tok.PDU)
	}
	for _, p := range []string{"membership", "not_membership"} {
		switch q.Get(p) {
		case "", "join", "invite", "leave", "ban", "knock":
		default:
			return nil, mxhttp.InvalidParam(p + " is not a membership")
		}
	}
	var evs []*rsstorage.Event
	if at >= a.upto && a.joined {
		evs, err = s.events.CurrentState(ctx, a.roomNID)
	} else {
		evs, err = s.stateAtPosition(r, a.roomNID, at)
	}
	if err != nil {
		return nil, err
	}
	chunk := []json.RawMessage{}
	for _, e := range evs {
		if e.Type != "m.room.member" {
			continue
		}
		if m := q.Get("membership"); m != "" && e.Membership != m {
			continue
		}
		if m := q.Get("not_membership"); m != "" && e.Membership == m {
			continue
		}
		chunk = append(chunk, e.Client)
	}
	return map[string]any{"chunk": chunk}, nil
}

// stateAtPosition is the room state after the last event at or before pos.
func (s *Server) stateAtPosition(r *http.Request, roomNID, pos int64) ([]*rsstorage.Event, error) {
	last, err := s.events.RoomEvents(r.Context(), roomNID, 0, pos, 1, true)
	if err != nil || len(last) == 0 {
		return nil, err
	}
	return s.stateAfterEvent(r.Context(), last[0].NID)
}
