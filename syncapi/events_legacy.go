package syncapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// handleEvents is the deprecated GET /events: a flat stream of new events
// from the user's rooms, typing and presence, after the from token. A
// user connected to an event stream is online (the presence module); the
// old endpoint has no set_presence to say otherwise.
func (s *Server) handleEvents(r *http.Request, dev *userapi.Device) (any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	if err := s.touchPresence(ctx, dev.UserID.String(), "online"); err != nil {
		return nil, err
	}
	from := s.notifier.position()
	if v := q.Get("from"); v != "" {
		tok, err := ParseToken(v)
		if err != nil {
			return nil, mxhttp.InvalidParam("from is not a valid token")
		}
		from = tok
	}
	timeout := 30 * time.Second
	if v := q.Get("timeout"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return nil, mxhttp.InvalidParam("timeout must be a non-negative integer")
		}
		timeout = min(time.Duration(ms)*time.Millisecond, maxSyncTimeout)
	}
	deadline := time.Now().Add(timeout)
	for {
		wake, stop := s.notifier.listen(dev.UserID.String())
		to := s.notifier.position().Max(from)
		chunk, err := s.legacyEvents(ctx, dev, from, to)
		if err != nil {
			stop()
			return nil, err
		}
		remaining := time.Until(deadline)
		if len(chunk) > 0 || remaining <= 0 {
			stop()
			return map[string]any{"start": from.String(), "end": to.String(), "chunk": chunk}, nil
		}
		timer := time.NewTimer(remaining)
		select {
		case <-wake:
			timer.Stop()
		case <-timer.C:
			stop()
		case <-ctx.Done():
			timer.Stop()
			stop()
			return nil, ctx.Err()
		}
	}
}

func (s *Server) legacyEvents(ctx context.Context, dev *userapi.Device, from, to Token) ([]json.RawMessage, error) {
	chunk := []json.RawMessage{}
	user := dev.UserID.String()
	ms, err := s.events.MembershipsOfUser(ctx, user)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Membership != spec.Join && m.StreamPos <= from.PDU {
			continue
		}
		evs, err := s.events.RoomEvents(ctx, m.RoomNID, from.PDU, to.PDU, maxTimelineLimit, false)
		if err != nil {
			return nil, err
		}
		if len(evs) > 0 {
			view, err := s.historyViewOf(ctx, m.RoomNID, user, m.Membership == spec.Join)
			if err != nil {
				return nil, err
			}
			for _, e := range view.filter(evs, user) {
				chunk = append(chunk, s.clientEvent(dev.SessionID, e))
			}
		}
		if m.Membership != spec.Join {
			continue
		}
		if users, changed := s.typing.since(m.RoomID, from.Typing); changed && from.Typing != 0 {
			ev, _ := json.Marshal(map[string]any{"type": "m.typing", "room_id": m.RoomID, "content": map[string]any{"user_ids": users}})
			chunk = append(chunk, ev)
		}
	}
	presence, err := s.presenceEvents(ctx, &syncRequest{device: dev, filter: &Filter{}}, from, to)
	if err != nil {
		return nil, err
	}
	return append(chunk, presence...), nil
}
