package syncapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// visibleEvent loads an event of a room if the user may see it.
func (s *Server) visibleEvent(r *http.Request, dev *userapi.Device, roomID, eventID string) (*roomAccess, *rsstorage.Event, error) {
	a, err := s.access(r.Context(), dev, roomID)
	if err != nil {
		return nil, nil, err
	}
	e, err := s.events.EventByID(r.Context(), eventID)
	if errors.Is(err, rsstorage.ErrNotFound) {
		return nil, nil, mxhttp.NotFound("Event not found")
	}
	if err != nil {
		return nil, nil, err
	}
	if e.RoomNID != a.roomNID || e.StreamPos == 0 || e.StreamPos > a.upto || !a.view.visible(e, dev.UserID.String()) {
		return nil, nil, mxhttp.NotFound("Event not found")
	}
	return a, a.view.maybeErase(e, dev.UserID.String()), nil
}

// handleEvent is GET /rooms/{roomId}/event/{eventId}.
func (s *Server) handleEvent(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	a, e, err := s.visibleEvent(r, dev, v["roomId"], v["eventId"])
	var mx *mxhttp.Error
	if errors.As(err, &mx) && mx.Code == "M_FORBIDDEN" {
		// GET /event does not tell outsiders whether the event exists.
		return nil, mxhttp.NotFound("Event not found")
	}
	if err != nil {
		return nil, err
	}
	return a.view.withMembership(s.render(r.Context(), dev, e), e), nil
}

// handleContext is GET /rooms/{roomId}/context/{eventId}.
func (s *Server) handleContext(r *http.Request, dev *userapi.Device) (any, error) {
	ctx := r.Context()
	v := mux.Vars(r)
	a, e, err := s.visibleEvent(r, dev, v["roomId"], v["eventId"])
	if err != nil {
		return nil, err
	}
	limit, err := parseLimit(r.URL.Query().Get("limit"), defaultMessagesLimit, maxTimelineLimit)
	if err != nil {
		return nil, err
	}
	filter := &RoomEventFilter{}
	if f := r.URL.Query().Get("filter"); f != "" {
		if err := json.Unmarshal([]byte(f), filter); err != nil {
			return nil, mxhttp.InvalidParam("filter is not a valid RoomEventFilter")
		}
	}
	before, err := s.events.RoomEvents(ctx, a.roomNID, a.from, e.StreamPos-1, limit/2, true)
	if err != nil {
		return nil, err
	}
	after, err := s.events.RoomEvents(ctx, a.roomNID, e.StreamPos, a.upto, limit-limit/2, false)
	if err != nil {
		return nil, err
	}
	render := func(evs []*rsstorage.Event) []json.RawMessage {
		out := make([]json.RawMessage, 0, len(evs))
		for _, ev := range a.view.filter(evs, dev.UserID.String()) {
			if filter.Allows(a.roomID, ev.Type, ev.Sender, hasURL(ev)) {
				out = append(out, a.view.withMembership(s.render(ctx, dev, ev), ev))
			}
		}
		return out
	}
	start, end := Token{PDU: e.StreamPos - 1}, Token{PDU: e.StreamPos}
	if len(before) > 0 {
		start.PDU = before[len(before)-1].StreamPos - 1
	}
	if len(after) > 0 {
		end.PDU = after[len(after)-1].StreamPos
	}
	// State at the last returned event.
	last := e
	if len(after) > 0 {
		last = after[len(after)-1]
	}
	stateMap, err := s.events.StateAt(ctx, last.SnapshotBefore)
	if err != nil {
		return nil, err
	}
	nids := make([]int64, 0, len(stateMap))
	for _, nid := range stateMap {
		nids = append(nids, nid)
	}
	stateEvs, err := s.events.EventsByNID(ctx, nids)
	if err != nil {
		return nil, err
	}
	if last.StateKey != nil {
		stateEvs = slices.DeleteFunc(stateEvs, func(x *rsstorage.Event) bool { return x.Type == last.Type && *x.StateKey == *last.StateKey })
		stateEvs = append(stateEvs, last)
	}
	state := make([]json.RawMessage, 0, len(stateEvs))
	var senders map[string]bool
	if filter.LazyLoadMembers {
		senders = map[string]bool{e.Sender: true}
		for _, ev := range append(before, after...) {
			senders[ev.Sender] = true
		}
	}
	for _, ev := range stateEvs {
		if senders != nil && ev.Type == "m.room.member" && !senders[*ev.StateKey] {
			continue
		}
		state = append(state, ev.Client)
	}
	return map[string]any{
		"event": a.view.withMembership(s.render(ctx, dev, e), e), "events_before": render(before), "events_after": render(after),
		"start": start.String(), "end": end.String(), "state": state,
	}, nil
}
