package federationapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// An invite crosses servers before it enters the room: the inviting
// server sends the event to the invitee's server (/invite), which signs it
// and keeps it for its user; only the doubly signed event goes into the
// room and out to the other servers.

// strippedTypes is the state an invitee sees of the room (the spec's
// recommended stripped state).
var strippedTypes = []string{spec.MRoomCreate, spec.MRoomJoinRules, spec.MRoomName, "m.room.avatar",
	spec.MRoomCanonicalAlias, "m.room.encryption", spec.MRoomTopic}

// invite is PUT /_matrix/federation/v2/invite/{roomId}/{eventId}.
func (s *Server) invite(r *http.Request, origin spec.ServerName, body []byte) (any, error) {
	roomID, err := spec.NewRoomID(mux.Vars(r)["roomId"])
	if err != nil {
		return nil, mxhttp.InvalidParam("invalid room id")
	}
	var req fclient.InviteV2Request
	if err := json.Unmarshal(body, &req); err != nil || req.Event() == nil {
		return nil, mxhttp.BadJSON("the body is not an invite request")
	}
	signed, err := s.handleInvite(r, origin, roomID, &req)
	if err != nil {
		return nil, err
	}
	return map[string]json.RawMessage{"event": json.RawMessage(signed.JSON())}, nil
}

// inviteV1 is the deprecated PUT /_matrix/federation/v1/invite, for rooms
// of versions 1 and 2: the body is the event itself, its stripped state in
// unsigned.invite_room_state, and the answer [200, {"event": …}].
func (s *Server) inviteV1(r *http.Request, origin spec.ServerName, body []byte) (any, error) {
	roomID, err := spec.NewRoomID(mux.Vars(r)["roomId"])
	if err != nil {
		return nil, mxhttp.InvalidParam("invalid room id")
	}
	var event map[string]json.RawMessage
	if err := json.Unmarshal(body, &event); err != nil {
		return nil, mxhttp.BadJSON("the body is not an event")
	}
	var unsigned struct {
		InviteRoomState json.RawMessage `json:"invite_room_state"`
	}
	_ = json.Unmarshal(event["unsigned"], &unsigned)
	wrapped, err := json.Marshal(map[string]any{"room_version": gomatrixserverlib.RoomVersionV1, "event": json.RawMessage(body), "invite_room_state": unsigned.InviteRoomState})
	if err != nil {
		return nil, mxhttp.BadJSON("the body is not an event")
	}
	var req fclient.InviteV2Request
	if err := json.Unmarshal(wrapped, &req); err != nil || req.Event() == nil {
		return nil, mxhttp.BadJSON("the body is not an invite event")
	}
	signed, err := s.handleInvite(r, origin, roomID, &req)
	if err != nil {
		return nil, err
	}
	return []any{http.StatusOK, map[string]json.RawMessage{"event": json.RawMessage(signed.JSON())}}, nil
}

// handleInvite checks an invite for one of our users, signs it and keeps
// it.
func (s *Server) handleInvite(r *http.Request, origin spec.ServerName, roomID *spec.RoomID, req *fclient.InviteV2Request) (gomatrixserverlib.PDU, error) {
	ctx := r.Context()
	ev := req.Event()
	if ev.EventID() != mux.Vars(r)["eventId"] {
		return nil, mxhttp.BadJSON("the event id does not match the path")
	}
	if ev.Type() != spec.MRoomMember || ev.StateKey() == nil {
		return nil, mxhttp.BadJSON("not a member event")
	}
	if m, err := ev.Membership(); err != nil || m != spec.Invite {
		return nil, mxhttp.BadJSON("not an invite")
	}
	target, err := spec.NewUserID(*ev.StateKey(), true)
	if err != nil {
		return nil, mxhttp.BadJSON("the state key is not a user id")
	}
	key, ok := s.keyFor(target.Domain())
	if !ok {
		return nil, mxhttp.Forbidden("the invited user is not on this server")
	}
	if sender := ev.SenderID().ToUserID(); sender == nil || sender.Domain() != origin {
		return nil, mxhttp.Forbidden("the invite must come from the inviting user's server")
	}
	if err := s.checkACL(ctx, roomID.String(), origin); err != nil {
		return nil, err
	}
	signed, err := gomatrixserverlib.HandleInvite(ctx, gomatrixserverlib.HandleInviteInput{
		RoomID: *roomID, RoomVersion: req.RoomVersion(), InvitedUser: *target, InvitedSenderID: spec.SenderID(target.String()),
		InviteEvent: ev, StrippedState: req.InviteRoomState(), KeyID: key.ID, PrivateKey: key.Private, Verifier: s.keyRing,
		RoomQuerier: s.querier(), MembershipQuerier: s.querier(), StateQuerier: s.querier(), UserIDQuerier: userIDForSender,
	})
	if err != nil {
		return nil, wireError(err)
	}
	// The library's invite event does not always know its room version,
	// which the event needs to cross to the roomserver in another
	// process: read it again as what it is.
	verImpl, err := gomatrixserverlib.GetRoomVersion(req.RoomVersion())
	if err != nil {
		return nil, mxhttp.UnsupportedVersion(err.Error())
	}
	if signed, err = verImpl.NewEventFromTrustedJSON(signed.JSON(), false); err != nil {
		return nil, mxhttp.BadJSON(err.Error())
	}
	if err := s.keepMembership(ctx, signed); err != nil {
		return nil, wireError(err)
	}
	return signed, nil
}

// keepMembership stores a member event about a local user: in the room's
// DAG when a local user is in the room, by itself otherwise.
func (s *Server) keepMembership(ctx context.Context, pdu gomatrixserverlib.PDU) error {
	if in, _ := s.localServerInRoom(ctx, pdu.RoomID().String()); in {
		err := s.input(ctx, pdu, roomserver.InputNew)
		if isGap(err) {
			// It builds on events we do not have yet; it comes again with
			// them through /send. Until then it is kept by itself.
			return s.input(ctx, pdu, roomserver.InputOutlier)
		}
		return err
	}
	_, err := s.rooms.StoreOutOfRoomMembership(ctx, pdu)
	return err
}

func (q roomQuerier) IsKnownRoom(ctx context.Context, roomID spec.RoomID) (bool, error) {
	in, _ := q.s.localServerInRoom(ctx, roomID.String())
	return in, nil
}

func (q roomQuerier) GetAuthEvents(context.Context, gomatrixserverlib.PDU) (gomatrixserverlib.AuthEventProvider, error) {
	return gomatrixserverlib.NewAuthEvents(nil)
}

func (q roomQuerier) GetState(ctx context.Context, roomID spec.RoomID, wanted []gomatrixserverlib.StateKeyTuple) ([]gomatrixserverlib.PDU, error) {
	var out []gomatrixserverlib.PDU
	for _, t := range wanted {
		ev, err := q.CurrentStateEvent(ctx, roomID, t.EventType, t.StateKey)
		if err != nil {
			return nil, err
		}
		if ev != nil {
			out = append(out, ev)
		}
	}
	return out, nil
}

// InviteRemote invites a user of another server into a local room.
func (s *Server) InviteRemote(ctx context.Context, req InviteRequest) (string, error) {
	if !s.policy.Allowed(req.Target.Domain()) {
		return "", ErrNotAllowed
	}
	key := req.Target.String()
	pdu, err := s.rooms.BuildEvent(ctx, roomserver.SendEventRequest{
		RoomID: req.RoomID, Sender: req.Sender, Type: spec.MRoomMember, StateKey: &key, Content: req.Content,
	})
	if err != nil {
		return "", err
	}
	roomID, err := spec.NewRoomID(req.RoomID)
	if err != nil {
		return "", err
	}
	state, err := s.querier().GetState(ctx, *roomID, strippedTuples())
	if err != nil {
		return "", err
	}
	stripped := make([]gomatrixserverlib.InviteStrippedState, 0, len(state))
	for _, ev := range state {
		stripped = append(stripped, gomatrixserverlib.NewInviteStrippedState(ev))
	}
	inviteReq, err := fclient.NewInviteV2Request(pdu, stripped)
	if err != nil {
		return "", err
	}
	res, err := s.client.SendInviteV2(ctx, req.Sender.Domain(), req.Target.Domain(), inviteReq)
	if err != nil {
		if isHTTPStatus(err, http.StatusForbidden) {
			return "", fmt.Errorf("%w: %s refused the invite: %v", ErrNotAllowed, req.Target.Domain(), err)
		}
		return "", fmt.Errorf("%w: %s: %v", ErrNoServer, req.Target.Domain(), err)
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(pdu.Version())
	if err != nil {
		return "", err
	}
	signed, err := verImpl.NewEventFromUntrustedJSON(res.Event)
	if err != nil {
		// As Synapse and Dendrite answer it: the invitee's server sent
		// JSON the room version does not allow (floats, say).
		return "", mxhttp.BadJSON(fmt.Sprintf("%s answered the invite with an event that room version %s does not allow: %v", req.Target.Domain(), pdu.Version(), err))
	}
	if signed.EventID() != pdu.EventID() {
		return "", fmt.Errorf("%w: %s returned another event", ErrNoServer, req.Target.Domain())
	}
	if err := s.verifySignatures(ctx, signed); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrNoServer, req.Target.Domain(), err)
	}
	if err := s.input(ctx, signed, roomserver.InputNew); err != nil {
		return "", err
	}
	return signed.EventID(), nil
}

func strippedTuples() []gomatrixserverlib.StateKeyTuple {
	out := make([]gomatrixserverlib.StateKeyTuple, 0, len(strippedTypes))
	for _, t := range strippedTypes {
		out = append(out, gomatrixserverlib.StateKeyTuple{EventType: t})
	}
	return out
}
