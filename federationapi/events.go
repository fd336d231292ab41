package federationapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// What other servers read of a room's DAG, each event as the server may
// see it (visibility.go).

// transaction is how single events and backfill go on the wire.
type transaction struct {
	Origin         spec.ServerName   `json:"origin"`
	OriginServerTS spec.Timestamp    `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
}

func (s *Server) transaction(pdus []json.RawMessage) transaction {
	return transaction{Origin: s.cfg.ServerName, OriginServerTS: spec.AsTimestamp(time.Now()), PDUs: pdus}
}

// event is GET /_matrix/federation/v1/event/{eventId}.
func (s *Server) event(r *http.Request, origin spec.ServerName, _ []byte) (any, error) {
	ctx := r.Context()
	id := mux.Vars(r)["eventId"]
	roomID, err := s.rooms.RoomOfEvent(ctx, id)
	if err != nil {
		return nil, wireError(err)
	}
	pdus, err := s.rooms.EventsByID(ctx, roomID, []string{id})
	if err != nil {
		return nil, wireError(err)
	}
	view, err := s.serverViewOf(ctx, roomID, origin, pdus)
	if err != nil {
		return nil, err
	}
	if len(pdus) == 0 {
		return nil, mxhttp.NotFound("Unknown event")
	}
	return s.transaction(view.shown(pdus)), nil
}

// stateAt reads the room and event_id of /state and /state_ids.
func (s *Server) stateAt(r *http.Request, origin spec.ServerName) (*roomserver.RoomState, error) {
	ctx := r.Context()
	roomID := mux.Vars(r)["roomId"]
	eventID := r.URL.Query().Get("event_id")
	if eventID == "" {
		return nil, mxhttp.MissingParam("event_id is required")
	}
	view, err := s.serverView(ctx, roomID, origin, []string{eventID})
	if err != nil {
		return nil, err
	}
	// An event without a state of its own (an outlier, a rejected event)
	// is not found, whoever asks; only then does visibility decide.
	st, err := s.rooms.StateBefore(ctx, roomID, eventID)
	if err != nil {
		return nil, wireError(err)
	}
	if visible, known := view.visible[eventID]; known && !visible {
		return nil, mxhttp.Forbidden("You do not have permission to access the state at the requested event")
	}
	return st, nil
}

// state is GET /_matrix/federation/v1/state/{roomId}.
func (s *Server) state(r *http.Request, origin spec.ServerName, _ []byte) (any, error) {
	st, err := s.stateAt(r, origin)
	if err != nil {
		return nil, err
	}
	return map[string]any{"pdus": pduJSONs(st.State), "auth_chain": pduJSONs(st.AuthChain)}, nil
}

// stateIDs is GET /_matrix/federation/v1/state_ids/{roomId}.
func (s *Server) stateIDs(r *http.Request, origin spec.ServerName, _ []byte) (any, error) {
	st, err := s.stateAt(r, origin)
	if err != nil {
		return nil, err
	}
	stateIDs := make([]string, 0, len(st.State))
	for _, p := range st.State {
		stateIDs = append(stateIDs, p.EventID())
	}
	authIDs := make([]string, 0, len(st.AuthChain))
	for _, p := range st.AuthChain {
		authIDs = append(authIDs, p.EventID())
	}
	return map[string]any{"pdu_ids": stateIDs, "auth_chain_ids": authIDs}, nil
}

// eventAuth is GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}.
func (s *Server) eventAuth(r *http.Request, origin spec.ServerName, _ []byte) (any, error) {
	ctx := r.Context()
	v := mux.Vars(r)
	if err := s.checkACL(ctx, v["roomId"], origin); err != nil {
		return nil, err
	}
	chain, err := s.rooms.EventAuthChain(ctx, v["roomId"], v["eventId"])
	if err != nil {
		return nil, wireError(err)
	}
	view, err := s.serverViewOf(ctx, v["roomId"], origin, chain)
	if err != nil {
		return nil, err
	}
	return map[string]any{"auth_chain": view.shown(chain)}, nil
}

// backfill is GET /_matrix/federation/v1/backfill/{roomId}?v=…&limit=….
func (s *Server) backfill(r *http.Request, origin spec.ServerName, _ []byte) (any, error) {
	ctx := r.Context()
	roomID := mux.Vars(r)["roomId"]
	if err := s.checkACL(ctx, roomID, origin); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	from := q["v"]
	if len(from) == 0 {
		return nil, mxhttp.MissingParam("v is required")
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 {
		return nil, mxhttp.InvalidParam("limit must be a positive integer")
	}
	pdus, err := s.rooms.WalkBack(ctx, roomserver.WalkRequest{RoomID: roomID, From: from, IncludeFrom: true, Limit: limit})
	if err != nil {
		return nil, wireError(err)
	}
	view, err := s.serverViewOf(ctx, roomID, origin, pdus)
	if err != nil {
		return nil, err
	}
	// Newest first, starting with the events asked from, as other
	// servers expect.
	slices.Reverse(pdus)
	return s.transaction(view.shown(pdus)), nil
}

type missingEventsRequest struct {
	Limit    int      `json:"limit"`
	MinDepth int64    `json:"min_depth"`
	Earliest []string `json:"earliest_events"`
	Latest   []string `json:"latest_events"`
}

// missingEvents is POST /_matrix/federation/v1/get_missing_events/{roomId}.
func (s *Server) missingEvents(r *http.Request, origin spec.ServerName, body []byte) (any, error) {
	ctx := r.Context()
	roomID := mux.Vars(r)["roomId"]
	if err := s.checkACL(ctx, roomID, origin); err != nil {
		return nil, err
	}
	req := missingEventsRequest{Limit: 10}
	if err := mxhttp.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if len(req.Latest) == 0 {
		// Nothing to walk back from: nothing is missing.
		return map[string]any{"events": []json.RawMessage{}}, nil
	}
	pdus, err := s.rooms.WalkBack(ctx, roomserver.WalkRequest{RoomID: roomID, From: req.Latest, Stop: req.Earliest, Limit: req.Limit, MinDepth: req.MinDepth})
	if err != nil {
		return nil, wireError(err)
	}
	view, err := s.serverViewOf(ctx, roomID, origin, pdus)
	if err != nil {
		return nil, err
	}
	return map[string]any{"events": view.shown(pdus)}, nil
}
