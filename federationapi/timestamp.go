package federationapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// "Jump to date" across servers. Serving: the event of our copy of the
// room nearest a time that the asking server may see. Asking: when a
// client's /timestamp_to_event finds nothing in our copy, the other
// servers in the room are asked, and an answer counts once the event
// itself, fetched from the answering server, holds up (its signatures,
// its room, its time on the right side).

// timestampCandidates is how many events nearest the time are judged
// before the answer is "none".
const timestampCandidates = 50

// timestampToEvent is GET /_matrix/federation/v1/timestamp_to_event/{roomId}.
func (s *Server) timestampToEvent(r *http.Request, origin spec.ServerName, _ []byte) (any, error) {
	ctx := r.Context()
	roomID := mux.Vars(r)["roomId"]
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
	if err := s.checkACL(ctx, roomID, origin); err != nil {
		return nil, err
	}
	candidates, err := s.rooms.EventsNearTimestamp(ctx, roomID, ts, forwards, timestampCandidates)
	if err != nil {
		return nil, wireError(err)
	}
	ids := make([]string, 0, len(candidates))
	for _, c := range candidates {
		ids = append(ids, c.EventID)
	}
	view, err := s.serverView(ctx, roomID, origin, ids)
	if err != nil {
		return nil, err
	}
	for _, c := range candidates {
		if view.visible[c.EventID] {
			return c, nil
		}
	}
	dir := "backward"
	if forwards {
		dir = "forward"
	}
	return nil, mxhttp.NotFound(fmt.Sprintf("Unable to find event from %d in %s direction", ts, dir))
}

// RemoteTimestampToEvent asks the other servers in the room for the event
// nearest ts in the direction given; ErrNotFound when none has one we can
// fetch.
func (s *Server) RemoteTimestampToEvent(ctx context.Context, roomID string, ts int64, forwards bool) (*roomserver.TimestampEvent, error) {
	servers, err := s.rooms.ServersInRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	version, err := s.rooms.RoomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	if err != nil {
		return nil, err
	}
	origin := s.localNameFor(ctx, roomID)
	dir := "b"
	if forwards {
		dir = "f"
	}
	path := "/_matrix/federation/v1/timestamp_to_event/" + url.PathEscape(roomID) + "?ts=" + strconv.FormatInt(ts, 10) + "&dir=" + dir
	for _, server := range servers {
		if s.isLocal(server) || !s.policy.Allowed(server) {
			continue
		}
		var res roomserver.TimestampEvent
		if err := s.signedGet(ctx, origin, server, path, &res); err != nil {
			if !isHTTPStatus(err, http.StatusNotFound) {
				slog.Info("federation: timestamp_to_event not answered", "room_id", roomID, "server", server, "err", err)
			}
			continue
		}
		if (forwards && res.OriginServerTS < ts) || (!forwards && res.OriginServerTS > ts) {
			continue
		}
		if err := s.fetchableEvent(ctx, origin, server, verImpl, roomID, res); err != nil {
			slog.Info("federation: timestamp_to_event answer does not hold up", "room_id", roomID, "server", server, "event_id", res.EventID, "err", err)
			continue
		}
		return &res, nil
	}
	return nil, fmt.Errorf("%w: no server in %s has an event from %d", ErrNotFound, roomID, ts)
}

// fetchableEvent checks an answer of another server: the event is one we
// hold, or one it gives us with good signatures, of the room and of the
// time it said.
func (s *Server) fetchableEvent(ctx context.Context, origin, server spec.ServerName, verImpl gomatrixserverlib.IRoomVersion, roomID string, res roomserver.TimestampEvent) error {
	if held, err := s.rooms.EventsByID(ctx, roomID, []string{res.EventID}); err == nil && len(held) == 1 {
		if int64(held[0].OriginServerTS()) != res.OriginServerTS {
			return errors.New("the time does not match the event")
		}
		return nil
	}
	txn, err := s.client.GetEvent(ctx, origin, server, res.EventID)
	if err != nil {
		return err
	}
	if len(txn.PDUs) != 1 {
		return fmt.Errorf("%d events in the answer", len(txn.PDUs))
	}
	pdu, err := verImpl.NewEventFromUntrustedJSON(txn.PDUs[0])
	if err != nil {
		return err
	}
	switch {
	case pdu.EventID() != res.EventID:
		return errors.New("another event came back")
	case pdu.RoomID().String() != roomID:
		return errors.New("the event is of another room")
	case int64(pdu.OriginServerTS()) != res.OriginServerTS:
		return errors.New("the time does not match the event")
	}
	return s.verifySignatures(ctx, pdu)
}
