package federationapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// Knocking on a room of another server mirrors joining it: make_knock
// hands out a template built on the resident server's view, send_knock
// takes the signed knock and answers with the room's stripped state, which
// the knocking server keeps with the knock for its user's /sync.

// makeKnock is GET /_matrix/federation/v1/make_knock/{roomId}/{userId}.
func (s *Server) makeKnock(r *http.Request, origin spec.ServerName, _ []byte) (any, error) {
	ctx := r.Context()
	roomID, userID, err := roomAndUser(r)
	if err != nil {
		return nil, err
	}
	if err := s.checkACL(ctx, roomID.String(), origin); err != nil {
		return nil, err
	}
	if userID.Domain() != origin {
		return nil, mxhttp.Forbidden("The knock must be made by the server of the user")
	}
	version, err := s.rooms.RoomVersion(ctx, roomID.String())
	if err != nil {
		return nil, wireError(err)
	}
	if !slices.Contains(r.URL.Query()["ver"], version) {
		return nil, wireError(spec.IncompatibleRoomVersion(version))
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	if err != nil {
		return nil, wireError(err)
	}
	if inRoom, _ := s.localServerInRoom(ctx, roomID.String()); !inRoom {
		return nil, mxhttp.NotFound("This server is not in the room")
	}
	sender := userID.String()
	proto := &gomatrixserverlib.ProtoEvent{SenderID: sender, RoomID: roomID.String(), Type: spec.MRoomMember, StateKey: &sender, Version: verImpl}
	if err := proto.SetContent(map[string]string{"membership": spec.Knock}); err != nil {
		return nil, err
	}
	ev, auth, err := s.template(ctx, proto)
	if err != nil {
		return nil, err
	}
	provider, err := gomatrixserverlib.NewAuthEvents(auth)
	if err != nil {
		return nil, mxhttp.Forbidden(err.Error())
	}
	if err := gomatrixserverlib.Allowed(ev, provider, userIDForSender); err != nil {
		return nil, mxhttp.Forbidden("The room does not take knocks from this user: " + err.Error())
	}
	return map[string]any{"event": proto, "room_version": version}, nil
}

// sendKnock is PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}.
func (s *Server) sendKnock(r *http.Request, origin spec.ServerName, body []byte) (any, error) {
	if _, err := s.takeMembership(r, origin, body, spec.Knock); err != nil {
		return nil, err
	}
	state, err := s.strippedState(r.Context(), mux.Vars(r)["roomId"])
	if err != nil {
		return nil, err
	}
	return map[string]any{"knock_room_state": state}, nil
}

// strippedState is what a user outside the room may see of it.
func (s *Server) strippedState(ctx context.Context, roomID string) ([]gomatrixserverlib.InviteStrippedState, error) {
	id, err := spec.NewRoomID(roomID)
	if err != nil {
		return nil, err
	}
	state, err := s.querier().GetState(ctx, *id, strippedTuples())
	if err != nil {
		return nil, err
	}
	out := make([]gomatrixserverlib.InviteStrippedState, 0, len(state))
	for _, ev := range state {
		out = append(out, gomatrixserverlib.NewInviteStrippedState(ev))
	}
	return out, nil
}

// KnockRemote knocks for a local user on a room of another server, and
// keeps the knock (with the room's stripped state) for the user.
func (s *Server) KnockRemote(ctx context.Context, req MembershipRequest) error {
	_, _, err := s.throughServers(ctx, req, "knock", s.knockThrough)
	return err
}

func (s *Server) knockThrough(ctx context.Context, server, origin spec.ServerName, req MembershipRequest) (gomatrixserverlib.PDU, error) {
	key, _ := s.keyFor(origin)
	var versions []gomatrixserverlib.RoomVersion
	for v, impl := range gomatrixserverlib.RoomVersions() {
		if impl.Stable() {
			versions = append(versions, v)
		}
	}
	tmpl, err := s.client.MakeKnock(ctx, origin, server, req.RoomID, req.UserID.String(), versions)
	if err != nil {
		return nil, err
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(tmpl.RoomVersion)
	if err != nil {
		return nil, err
	}
	proto := tmpl.KnockEvent
	sender := req.UserID.String()
	proto.SenderID, proto.StateKey, proto.RoomID, proto.Type = sender, &sender, req.RoomID, spec.MRoomMember
	content := map[string]any{}
	if len(req.Content) > 0 {
		if err := json.Unmarshal(req.Content, &content); err != nil {
			return nil, err
		}
	}
	content["membership"] = spec.Knock
	if err := proto.SetContent(content); err != nil {
		return nil, err
	}
	ev, err := verImpl.NewEventBuilderFromProtoEvent(&proto).Build(time.Now(), origin, key.ID, key.Private)
	if err != nil {
		return nil, err
	}
	res, err := s.client.SendKnock(ctx, origin, server, ev)
	if err != nil {
		return nil, err
	}
	// The room's stripped state goes with the knock, where /sync shows it
	// as it shows an invite's.
	if err := ev.SetUnsignedField("knock_room_state", knockState(res)); err != nil {
		return nil, err
	}
	return verImpl.NewEventFromTrustedJSON(ev.JSON(), false)
}

func knockState(res fclient.RespSendKnock) []gomatrixserverlib.InviteStrippedState {
	if res.KnockRoomState == nil {
		return []gomatrixserverlib.InviteStrippedState{}
	}
	return res.KnockRoomState
}
