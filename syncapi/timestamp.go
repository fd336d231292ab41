package syncapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/tidwall/gjson"
)

// handleTimestampToEvent is GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event
// ("jump to date"): the visible event nearest to ts in direction dir.
// Our copy of the room is asked first; when it holds nothing in that
// direction, the other servers in the room are (remoteTimestamps).
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
			return s.remoteTimestampToEvent(ctx, a, dev, ts, forwards, notFound)
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

// remoteTimestamps asks other servers for the event nearest a time; the
// federation API does (the History dependency, when it offers this).
type remoteTimestamps interface {
	RemoteTimestampToEvent(ctx context.Context, roomID string, ts int64, forwards bool) (*roomserver.TimestampEvent, error)
}

// remoteTimestampToEvent asks the other servers in the room, when we hold
// nothing in that direction. Their event lies beyond every event we hold,
// and the requester must be allowed to see events there: after our
// newest, by the room's visibility now; before our oldest, only where
// the room's history was never restricted as far as we know (what was in
// force that far back is not ours to know).
func (s *Server) remoteTimestampToEvent(ctx context.Context, a *roomAccess, dev *userapi.Device, ts int64, forwards bool, notFound error) (any, error) {
	remote, ok := s.history.(remoteTimestamps)
	if !ok {
		return nil, notFound
	}
	beyond := &rsstorage.Event{StreamPos: minPosition}
	if forwards {
		beyond.StreamPos = math.MaxInt64
	} else if !s.neverRestricted(ctx, a) {
		return nil, notFound
	}
	if !a.view.visible(beyond, dev.UserID.String()) {
		return nil, notFound
	}
	res, err := remote.RemoteTimestampToEvent(ctx, a.roomID, ts, forwards)
	if err != nil {
		slog.Debug("timestamp_to_event: no other server had an event", "room_id", a.roomID, "err", err)
		return nil, notFound
	}
	return map[string]any{"event_id": res.EventID, "origin_server_ts": res.OriginServerTS}, nil
}

// neverRestricted tells whether the room's history_visibility, now and in
// every change we hold, is shared or world_readable.
func (s *Server) neverRestricted(ctx context.Context, a *roomAccess) bool {
	for _, c := range a.view.visibility {
		if c.value != "shared" && c.value != "world_readable" {
			return false
		}
	}
	ev, err := s.rooms.StateEvent(ctx, a.roomID, spec.MRoomHistoryVisibility, "")
	if errors.Is(err, roomserver.ErrEventNotFound) {
		return true
	}
	if err != nil {
		return false
	}
	switch gjson.GetBytes(ev.Content, "history_visibility").String() {
	case "shared", "world_readable":
		return true
	}
	return false
}
