package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// A room's history as an admin reads it (Synapse's /v1/rooms/{roomId}/
// messages and /context/{eventId}): every event of the timeline,
// whatever the admin's membership and the room's history visibility.
// The paging tokens are stream positions: a page backwards holds the
// events at or before its from, a page forwards those after it.

const (
	defaultMessagesLimit = 10
	maxMessagesLimit     = 1000
)

// roomNID is the path's room in the room tables; 404 if unknown.
func (s *Server) roomRow(r *http.Request) (*rsstorage.Room, error) {
	roomID, err := blockRoomID(r)
	if err != nil {
		return nil, err
	}
	room, err := s.roomStore.RoomByID(r.Context(), roomID)
	if errors.Is(err, rsstorage.ErrNotFound) {
		return nil, mxhttp.NotFound("Room not found")
	}
	return room, err
}

// historyFilter is the part of the spec's RoomEventFilter the admin's
// history honours.
type historyFilter struct {
	Types       *[]string `json:"types"`
	NotTypes    []string  `json:"not_types"`
	Senders     *[]string `json:"senders"`
	NotSenders  []string  `json:"not_senders"`
	ContainsURL *bool     `json:"contains_url"`
}

func posParam(q map[string][]string, name string, def int64) (int64, error) {
	vs := q[name]
	if len(vs) == 0 || vs[0] == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil || n < 0 {
		return 0, mxhttp.InvalidParam("Query parameter " + name + " is not a valid token")
	}
	return n, nil
}

func clientEvents(evs []*rsstorage.Event) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Client)
	}
	return out
}

// roomMessages is GET /v1/rooms/{roomId}/messages.
func (s *Server) roomMessages(r *http.Request, _ *userapi.Device) (any, error) {
	room, err := s.roomRow(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	backwards := true
	switch q.Get("dir") {
	case "", "b":
	case "f":
		backwards = false
	default:
		return nil, mxhttp.InvalidParam("Query parameter dir must be f or b")
	}
	limit, err := nonNegative(q, "limit", defaultMessagesLimit)
	if err != nil {
		return nil, err
	}
	limit = min(limit, maxMessagesLimit)
	var filter *rsstorage.EventFilter
	if raw := q.Get("filter"); raw != "" {
		var f historyFilter
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			return nil, mxhttp.InvalidParam("filter is not a valid RoomEventFilter")
		}
		filter = &rsstorage.EventFilter{Types: f.Types, NotTypes: f.NotTypes, Senders: f.Senders, NotSenders: f.NotSenders, ContainsURL: f.ContainsURL}
	}
	head, err := s.roomStore.MaxStreamPos(r.Context())
	if err != nil {
		return nil, err
	}
	def := int64(0)
	if backwards {
		def = head
	}
	from, err := posParam(q, "from", def)
	if err != nil {
		return nil, err
	}
	var lo, hi int64
	if backwards {
		to, err := posParam(q, "to", 0)
		if err != nil {
			return nil, err
		}
		lo, hi = to, from
	} else {
		to, err := posParam(q, "to", head)
		if err != nil {
			return nil, err
		}
		lo, hi = from, to
	}
	evs := []*rsstorage.Event{}
	if lo < hi && limit > 0 {
		if evs, err = s.roomStore.RoomEventsFiltered(r.Context(), room.NID, lo, hi, limit, backwards, filter); err != nil {
			return nil, err
		}
	}
	out := map[string]any{"chunk": clientEvents(evs), "start": strconv.FormatInt(from, 10)}
	if len(evs) == limit && limit > 0 {
		last := evs[len(evs)-1].StreamPos
		if backwards {
			last--
		}
		out["end"] = strconv.FormatInt(last, 10)
	}
	return out, nil
}

// roomContext is GET /v1/rooms/{roomId}/context/{eventId}: the event,
// up to limit events around it, and the room's state before it.
func (s *Server) roomContext(r *http.Request, _ *userapi.Device) (any, error) {
	room, err := s.roomRow(r)
	if err != nil {
		return nil, err
	}
	limit, err := nonNegative(r.URL.Query(), "limit", defaultMessagesLimit)
	if err != nil {
		return nil, err
	}
	limit = min(limit, maxMessagesLimit)
	ev, err := s.roomStore.EventByID(r.Context(), mux.Vars(r)["eventId"])
	if errors.Is(err, rsstorage.ErrNotFound) || (err == nil && (ev.RoomNID != room.NID || ev.StreamPos == 0)) {
		return nil, mxhttp.NotFound("Event not found")
	}
	if err != nil {
		return nil, err
	}
	head, err := s.roomStore.MaxStreamPos(r.Context())
	if err != nil {
		return nil, err
	}
	before, err := s.roomStore.RoomEvents(r.Context(), room.NID, 0, ev.StreamPos-1, limit/2, true)
	if err != nil {
		return nil, err
	}
	after, err := s.roomStore.RoomEvents(r.Context(), room.NID, ev.StreamPos, head, limit-limit/2, false)
	if err != nil {
		return nil, err
	}
	stateNIDs, err := s.roomStore.StateAt(r.Context(), ev.SnapshotBefore)
	if err != nil {
		return nil, err
	}
	nids := make([]int64, 0, len(stateNIDs))
	for _, nid := range stateNIDs {
		nids = append(nids, nid)
	}
	state, err := s.roomStore.EventsByNID(r.Context(), nids)
	if err != nil {
		return nil, err
	}
	start, end := ev.StreamPos-1, ev.StreamPos
	if len(before) > 0 {
		start = before[len(before)-1].StreamPos - 1
	}
	if len(after) > 0 {
		end = after[len(after)-1].StreamPos
	}
	return map[string]any{"event": json.RawMessage(ev.Client), "events_before": clientEvents(before), "events_after": clientEvents(after),
		"state": clientEvents(state), "start": strconv.FormatInt(start, 10), "end": strconv.FormatInt(end, 10)}, nil
}

// forwardExtremities is GET /v1/rooms/{roomId}/forward_extremities.
func (s *Server) forwardExtremities(r *http.Request, _ *userapi.Device) (any, error) {
	room, err := s.roomRow(r)
	if err != nil {
		return nil, err
	}
	ids, err := s.rooms.Extremities(r.Context(), room.ID)
	if err != nil {
		return nil, roomError(err)
	}
	evs, err := s.roomStore.EventsByID(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	results := make([]map[string]any, 0, len(evs))
	for _, e := range evs {
		// rohrpost keeps no receipt time: origin_server_ts stands in.
		results = append(results, map[string]any{"event_id": e.ID, "state_group": e.SnapshotBefore, "depth": e.Depth, "received_ts": e.OriginTS})
	}
	return map[string]any{"count": len(results), "results": results}, nil
}

// dropForwardExtremities is DELETE /v1/rooms/{roomId}/forward_extremities:
// all but the deepest go.
func (s *Server) dropForwardExtremities(r *http.Request, _ *userapi.Device) (any, error) {
	room, err := s.roomRow(r)
	if err != nil {
		return nil, err
	}
	n, err := s.rooms.DropExtremities(r.Context(), room.ID)
	if err != nil {
		return nil, roomError(err)
	}
	noteAudit(r, "deleted", n)
	return map[string]int{"deleted": n}, nil
}
