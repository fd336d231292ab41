package adminapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/federationapi"
	fedstorage "github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Federation destinations (Synapse's /v1/federation/destinations): the
// servers the send queue has sent to, with its backoff from each
// (decision 0011). Listings read the queue's table read-only; a reset
// goes through the federation API, which tells the process that sends.

// destinationOrders are the sort keys, the default first.
var destinationOrders = []string{"destination", "retry_last_ts", "retry_interval", "failure_ts", "last_successful_stream_ordering"}

func destinationJSON(d fedstorage.DestinationStatus) map[string]any {
	out := map[string]any{"destination": d.Destination, "retry_last_ts": int64(0), "retry_interval": int64(0),
		"failure_ts": nil, "last_successful_stream_ordering": nil}
	if d.Failures > 0 {
		out["retry_last_ts"] = d.LastFailedTS
		out["retry_interval"] = max(d.RetryAt-d.LastFailedTS, 0)
	}
	if d.FailureTS != 0 {
		out["failure_ts"] = d.FailureTS
	}
	if d.LastSuccessPos != 0 {
		out["last_successful_stream_ordering"] = d.LastSuccessPos
	}
	return out
}

// listDestinations is GET /v1/federation/destinations.
func (s *Server) listDestinations(r *http.Request, _ *userapi.Device) (any, error) {
	p, err := parsePaging(r, 100, destinationOrders...)
	if err != nil {
		return nil, err
	}
	list, total, err := s.fedStore.Destinations(r.Context(), fedstorage.DestinationQuery{Contains: r.URL.Query().Get("destination"),
		OrderBy: p.OrderBy, Backwards: !p.Forward, Offset: p.From, Limit: p.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(list))
	for _, d := range list {
		out = append(out, destinationJSON(d))
	}
	res := map[string]any{"destinations": out, "total": total}
	if p.From+len(out) < total && len(out) > 0 {
		res["next_token"] = strconv.Itoa(p.From + len(out))
	}
	return res, nil
}

// pathDestination is the path's destination; 404 unless the queue knows
// it.
func (s *Server) pathDestination(r *http.Request) (fedstorage.DestinationStatus, error) {
	name := mux.Vars(r)["destination"]
	if _, _, ok := spec.ParseAndValidateServerName(spec.ServerName(name)); !ok {
		return fedstorage.DestinationStatus{}, mxhttp.InvalidParam("Not a server name: " + name)
	}
	d, err := s.fedStore.DestinationStatusOf(r.Context(), name)
	if errors.Is(err, fedstorage.ErrNotFound) {
		return d, mxhttp.NotFound("Unknown destination")
	}
	return d, err
}

// getDestination is GET /v1/federation/destinations/{destination}.
func (s *Server) getDestination(r *http.Request, _ *userapi.Device) (any, error) {
	d, err := s.pathDestination(r)
	if err != nil {
		return nil, err
	}
	return destinationJSON(d), nil
}

// destinationRooms is GET /v1/federation/destinations/{destination}/rooms:
// the rooms the destination's users are joined to (their events go
// there), with the stream position of each room's newest event, paged by
// from and limit, dir b for the reverse order.
func (s *Server) destinationRooms(r *http.Request, _ *userapi.Device) (any, error) {
	p, err := parsePaging(r, 100)
	if err != nil {
		return nil, err
	}
	d, err := s.pathDestination(r)
	if err != nil {
		return nil, err
	}
	rooms, err := s.roomStore.RoomsOfServer(r.Context(), d.Destination)
	if err != nil {
		return nil, err
	}
	if !p.Forward {
		for i, k := 0, len(rooms)-1; i < k; i, k = i+1, k-1 {
			rooms[i], rooms[k] = rooms[k], rooms[i]
		}
	}
	total := len(rooms)
	start := min(p.From, total)
	end := min(start+p.Limit, total)
	out := make([]map[string]any, 0, end-start)
	for _, room := range rooms[start:end] {
		out = append(out, map[string]any{"room_id": room.RoomID, "stream_ordering": room.StreamPos})
	}
	res := map[string]any{"rooms": out, "total": total}
	if end < total {
		res["next_token"] = strconv.Itoa(end)
	}
	return res, nil
}

// resetDestination is POST /v1/federation/destinations/{destination}/
// reset_connection: the backoff ends and what waits is sent now.
func (s *Server) resetDestination(r *http.Request, _ *userapi.Device) (any, error) {
	d, err := s.pathDestination(r)
	if err != nil {
		return nil, err
	}
	setAuditTarget(r, d.Destination)
	if d.Failures == 0 {
		return nil, mxhttp.Unknown("The retry timing does not need to be reset for this destination.")
	}
	if s.fed == nil {
		return nil, mxhttp.Unknown("Federation is not running")
	}
	if err := s.fed.ResetDestination(r.Context(), spec.ServerName(d.Destination)); errors.Is(err, federationapi.ErrNotFound) {
		return nil, mxhttp.NotFound("Unknown destination")
	} else if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}
