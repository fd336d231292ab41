package syncapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// handleTimestampToEvent is GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event
// ("jump to date"): the visible event nearest to ts in direction dir.
// Only this server's copy of the room is asked.
func (s *Server) handleTimestampToEvent(r *http.Request, dev *userapi.Device) (any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
	if err != nil || ts < 0 {
		return nil, mxhttp.InvalidParam("ts must be a timestamp in milliseconds")
	}
	var forwards bool
	switch q.Get("dir") {
	case "f":
		forwards = true
	case "b":
	default:
		return nil, mxhttp.InvalidParam("dir must be f or b")
	}
	a, err := s.access(ctx, dev, mux.Vars(r)["roomId"])
	if err != nil {
		return nil, err
	}
	notFound := mxhttp.NotFound("No event found in that direction")
	// Skip what the user may not see, a bounded number of steps.
	for range 50 {
		e, err := s.events.EventNearTimestamp(ctx, a.roomNID, ts, forwards)
		if errors.Is(err, rsstorage.ErrNotFound) {
			return nil, notFound
		}
		if err != nil {
			return nil, err
		}
		if len(a.view.filter([]*rsstorage.Event{e}, dev.UserID.String())) == 1 && e.StreamPos > a.from && e.StreamPos <= a.upto {
			return map[string]any{"event_id": e.ID, "origin_server_ts": e.OriginTS}, nil
		}
		if forwards {
			ts = e.OriginTS + 1
		} else {
			ts = e.OriginTS - 1
		}
	}
	return nil, notFound
}
