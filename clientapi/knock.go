package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// knockRoom is POST /knock/{roomIdOrAlias}: ask to be let into a room whose
// join rule is knock (room versions 7 and later; the auth rules decide).
// Rooms only other servers know cannot be knocked on yet.
func (s *Server) knockRoom(r *http.Request, dev *userapi.Device) (any, error) {
	if dev.Suspended {
		return nil, errSuspended()
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	ctx := r.Context()
	roomID, err := s.resolveRoom(ctx, mux.Vars(r)["roomIdOrAlias"])
	if err != nil {
		return nil, err
	}
	current, err := s.rooms.Membership(ctx, roomID, dev.UserID)
	if err != nil {
		return nil, roomError(err)
	}
	switch current {
	case spec.Join:
		return nil, mxhttp.Forbidden("You are already in the room")
	case spec.Invite:
		return nil, mxhttp.Forbidden("You are invited already; join the room")
	case spec.Ban:
		return nil, mxhttp.Forbidden("You are banned from the room")
	}
	content := map[string]any{"membership": spec.Knock}
	if body.Reason != "" {
		content["reason"] = body.Reason
	}
	s.addProfile(ctx, dev.UserID, content)
	if _, err := s.sendMember(ctx, roomID, dev.UserID, dev.UserID, content); err != nil {
		return nil, err
	}
	return map[string]string{"room_id": roomID}, nil
}
