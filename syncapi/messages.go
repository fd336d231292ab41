package syncapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

const defaultMessagesLimit = 10

// historyFetchTimeout bounds what a page of /messages waits for other
// servers to send history: when they are slow or down, the page comes
// with what we hold.
const historyFetchTimeout = 10 * time.Second

// parseLimit reads a limit parameter, bounded to [1, maxLimit].
func parseLimit(v string, def, maxLimit int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, mxhttp.InvalidParam("limit must be a non-negative integer")
	}
	if n == 0 {
		return def, nil
	}
	return min(n, maxLimit), nil
}

// A pagination token's PDU position p means "between event p and p+1":
// going backwards from p returns events at or before p.
func parsePosition(v string) (int64, bool, error) {
	if v == "" {
		return 0, false, nil
	}
	tok, err := ParseToken(v)
	if err != nil {
		return 0, false, mxhttp.InvalidParam("invalid pagination token")
	}
	return tok.PDU, true, nil
}

// handleMessages is GET /rooms/{roomId}/messages.
func (s *Server) handleMessages(r *http.Request, dev *userapi.Device) (any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	a, err := s.access(ctx, dev, mux.Vars(r)["roomId"])
	if err != nil {
		return nil, err
	}
	p, err := parsePagination(q, defaultMessagesLimit)
	if err != nil {
		return nil, err
	}
	filter := &RoomEventFilter{}
	if v := q.Get("filter"); v != "" {
		if err := json.Unmarshal([]byte(v), filter); err != nil {
			return nil, mxhttp.InvalidParam("filter is not a valid RoomEventFilter")
		}
	}
	lower, upper := p.window(a)
	from := p.from
	if !p.hasFrom {
		from = upper
		if !p.backwards {
			from = lower
		}
	}
	var evs []*rsstorage.Event
	if lower < upper {
		read := func() ([]*rsstorage.Event, error) {
			return s.events.RoomEventsFiltered(ctx, a.roomNID, lower, upper, p.limit, p.backwards, filter.storageFilter())
		}
		if evs, err = read(); err != nil {
			return nil, err
		}
		if p.backwards && s.history != nil {
			if s.fillHole(ctx, a, evs, lower, upper, p.limit) {
				if evs, err = read(); err != nil {
					return nil, err
				}
			}
			// Paging back past the oldest event we hold: the servers that
			// were in the room before us may have more.
			if len(evs) < p.limit && !p.hasTo {
				fetchCtx, cancel := context.WithTimeout(ctx, historyFetchTimeout)
				n, err := s.history.BackfillRoom(fetchCtx, a.roomID, p.limit-len(evs))
				cancel()
				if err != nil {
					slog.Info("backfill failed", "room_id", a.roomID, "err", err)
				} else if n > 0 {
					if evs, err = read(); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	start := Token{PDU: from}
	resp := map[string]any{"start": start.String()}
	chunk := make([]json.RawMessage, 0, len(evs))
	var senders []string
	for _, e := range a.view.filter(evs, dev.UserID.String()) {
		chunk = append(chunk, a.view.withMembership(s.render(ctx, dev, e), e))
		senders = append(senders, e.Sender)
	}
	resp["chunk"] = chunk
	// Backwards, "end" is omitted once a page comes back empty: the start
	// of the visible history. Forwards, it is where to continue live from.
	switch {
	case len(evs) > 0:
		resp["end"] = p.next(evs).String()
	case !p.backwards:
		resp["end"] = Token{PDU: max(from, lower)}.String()
	}
	if filter.LazyLoadMembers {
		resp["state"] = s.memberEvents(r, a.roomID, senders)
	}
	return resp, nil
}

// fillHole fetches history missing in the middle of the room's timeline
// (roomserver/holes.go) when a page read backwards from upper went
// through the positions left free for it: the newest such hole, one per
// request. It tells whether events were stored, so that the page is read
// again.
func (s *Server) fillHole(ctx context.Context, a *roomAccess, page []*rsstorage.Event, lower, upper int64, limit int) bool {
	lowest := lower
	if len(page) == limit {
		lowest = page[len(page)-1].StreamPos
	}
	holes, err := s.events.HolesBetween(ctx, a.roomNID, lowest, upper)
	if err != nil || len(holes) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, historyFetchTimeout)
	defer cancel()
	n, err := s.history.FillHole(ctx, a.roomID, holes[0].EventID, limit)
	if err != nil {
		slog.Info("filling a hole in the room's history failed", "room_id", a.roomID, "event_id", holes[0].EventID, "err", err)
	}
	return n > 0
}

// memberEvents returns the current member events of the given users.
func (s *Server) memberEvents(r *http.Request, roomID string, users []string) []json.RawMessage {
	out := []json.RawMessage{}
	seen := map[string]bool{}
	for _, u := range users {
		if seen[u] {
			continue
		}
		seen[u] = true
		if ev, err := s.rooms.StateEvent(r.Context(), roomID, "m.room.member", u); err == nil {
			out = append(out, ev.Client)
		}
	}
	return out
}
