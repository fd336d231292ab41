package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// knockRoom is POST /knock/{roomIdOrAlias}: ask to be let into a room whose
// join rule is knock (room versions 7 and later; the auth rules decide).
// Rooms no local user is in are knocked on through a server that is.
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
	roomID, aliasServers, err := s.resolveRoomWithServers(ctx, mux.Vars(r)["roomIdOrAlias"])
	if err != nil {
		return nil, err
	}
	if s.needsRemoteJoin(ctx, roomID) {
		content := map[string]any{}
		if body.Reason != "" {
			content["reason"] = body.Reason
		}
		s.addProfile(ctx, dev.UserID, content)
		raw, _ := json.Marshal(content)
		servers := s.joinServers(ctx, r, roomID, dev.UserID, aliasServers)
		if err := s.fed.KnockRemote(ctx, federationapi.MembershipRequest{UserID: dev.UserID, RoomID: roomID, Servers: servers, Content: raw}); err != nil {
			return nil, federationError(err)
		}
		return map[string]string{"room_id": roomID}, nil
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
