package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Reports go to the server's administrators (the admin API lists them).
// Reporting a room or a user answers 200 whether or not it exists, as the
// spec allows, so that reports cannot probe for rooms and users.

type reportBody struct {
	Reason *string `json:"reason"`
}

func readReport(r *http.Request, reasonRequired bool) (string, error) {
	var body reportBody
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return "", err
	}
	if body.Reason == nil {
		if reasonRequired {
			return "", mxhttp.MissingParam("reason is required")
		}
		return "", nil
	}
	return *body.Reason, nil
}

// reportEvent is POST /rooms/{roomId}/report/{eventId}: only members of
// the room may report its events.
func (s *Server) reportEvent(r *http.Request, dev *userapi.Device) (any, error) {
	reason, err := readReport(r, false)
	if err != nil {
		return nil, err
	}
	v := mux.Vars(r)
	roomID, eventID := v["roomId"], v["eventId"]
	ctx := r.Context()
	notFound := mxhttp.NotFound("The event was not found or you are not joined to its room")
	if m, err := s.rooms.Membership(ctx, roomID, dev.UserID); err != nil || m != spec.Join {
		return nil, notFound
	}
	ev, err := s.rooms.Event(ctx, eventID)
	if err != nil || ev.RoomID != roomID {
		return nil, notFound
	}
	if err := s.users.Report(ctx, userapi.Report{Reporter: dev.UserID, RoomID: roomID, EventID: eventID, UserID: ev.Sender, Reason: reason}); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// reportRoom is POST /rooms/{roomId}/report.
func (s *Server) reportRoom(r *http.Request, dev *userapi.Device) (any, error) {
	reason, err := readReport(r, true)
	if err != nil {
		return nil, err
	}
	roomID := mux.Vars(r)["roomId"]
	if _, err := spec.NewRoomID(roomID); err != nil {
		return nil, mxhttp.InvalidParam("invalid room id")
	}
	if err := s.users.Report(r.Context(), userapi.Report{Reporter: dev.UserID, RoomID: roomID, Reason: reason}); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// reportUser is POST /users/{userId}/report.
func (s *Server) reportUser(r *http.Request, dev *userapi.Device) (any, error) {
	reason, err := readReport(r, true)
	if err != nil {
		return nil, err
	}
	user, err := pathUser(r)
	if err != nil {
		return nil, err
	}
	if err := s.users.Report(r.Context(), userapi.Report{Reporter: dev.UserID, UserID: user.String(), Reason: reason}); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
