package federationapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// Leaving a room through another server mirrors joining: make_leave hands
// out a template, send_leave takes the signed event. A server needs this
// when none of its users is joined, above all to reject an invite.

// makeLeave is GET /_matrix/federation/v1/make_leave/{roomId}/{userId}.
func (s *Server) makeLeave(r *http.Request, origin spec.ServerName, _ []byte) (any, error) {
	ctx := r.Context()
	roomID, userID, err := roomAndUser(r)
	if err != nil {
		return nil, err
	}
	if err := s.checkACL(ctx, roomID.String(), origin); err != nil {
		return nil, err
	}
	version, err := s.rooms.RoomVersion(ctx, roomID.String())
	if err != nil {
		return nil, wireError(err)
	}
	inRoom, local := s.localServerInRoom(ctx, roomID.String())
	res, err := gomatrixserverlib.HandleMakeLeave(gomatrixserverlib.HandleMakeLeaveInput{
		UserID: *userID, SenderID: spec.SenderID(userID.String()), RoomID: *roomID,
		RoomVersion: gomatrixserverlib.RoomVersion(version), RequestOrigin: origin,
		LocalServerName: local, LocalServerInRoom: inRoom, UserIDQuerier: userIDForSender,
		BuildEventTemplate: func(proto *gomatrixserverlib.ProtoEvent) (gomatrixserverlib.PDU, []gomatrixserverlib.PDU, error) {
			return s.template(ctx, proto)
		},
	})
	if err != nil {
		return nil, wireError(err)
	}
	return map[string]any{"event": res.LeaveTemplateEvent, "room_version": res.RoomVersion}, nil
}

// sendLeave is PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}.
func (s *Server) sendLeave(r *http.Request, origin spec.ServerName, body []byte) (any, error) {
	if _, err := s.takeMembership(r, origin, body, spec.Leave); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// takeMembership checks a member event another server's user signed
// after make_leave or make_knock (its own, of the given membership, from
// the origin, for the room and event id of the path) and puts it into
// the room.
func (s *Server) takeMembership(r *http.Request, origin spec.ServerName, body []byte, membership string) (gomatrixserverlib.PDU, error) {
	ctx := r.Context()
	roomID := mux.Vars(r)["roomId"]
	if err := s.checkACL(ctx, roomID, origin); err != nil {
		return nil, err
	}
	version, err := s.rooms.RoomVersion(ctx, roomID)
	if err != nil {
		return nil, wireError(err)
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	if err != nil {
		return nil, wireError(err)
	}
	ev, err := verImpl.NewEventFromUntrustedJSON(body)
	if err != nil {
		return nil, mxhttp.BadJSON("the body is not an event of this room: " + err.Error())
	}
	switch {
	case ev.EventID() != mux.Vars(r)["eventId"]:
		return nil, mxhttp.BadJSON("the event id does not match the path")
	case ev.RoomID().String() != roomID:
		return nil, mxhttp.BadJSON("the room id does not match the path")
	case ev.Type() != spec.MRoomMember || !ev.StateKeyEquals(string(ev.SenderID())):
		return nil, mxhttp.BadJSON("not a member event of its sender")
	}
	if m, err := ev.Membership(); err != nil || m != membership {
		return nil, mxhttp.BadJSON("membership must be " + membership)
	}
	if sender := ev.SenderID().ToUserID(); sender == nil || sender.Domain() != origin {
		return nil, mxhttp.Forbidden("the event must come from its sender's server")
	}
	if err := s.verifySignatures(ctx, ev); err != nil {
		return nil, mxhttp.Forbidden("signature check failed: " + err.Error())
	}
	if err := s.input(ctx, ev, roomserver.InputNew); err != nil {
		return nil, mxhttp.Forbidden(err.Error())
	}
	return ev, nil
}

// LeaveRemoteRoom makes a local user leave a room no local user is joined
// to, through one of req.Servers, and keeps the leave for the user.
func (s *Server) LeaveRemoteRoom(ctx context.Context, req MembershipRequest) error {
	origin, sent, err := s.throughServers(ctx, req, "leave", s.leaveThrough)
	if sent || origin == "" {
		return err
	}
	// Nobody in the room would take the rejection: the user is still rid
	// of the invite, with a leave of our own that goes nowhere (the
	// inviting server learns of it if the user ever joins).
	if ev, lerr := s.localRejection(ctx, origin, req); lerr == nil {
		slog.Info("federation: invite rejected locally", "room_id", req.RoomID, "user", req.UserID.String(), "err", err)
		_, err = s.rooms.StoreOutOfRoomMembership(ctx, ev)
		return err
	}
	return err
}

// throughServers builds a local user's member event through the first of
// req.Servers that will (make_leave or make_knock, then send) and keeps
// it for the user. It returns the local server name it acted as, whether
// a server took the event, and the last refusal when no server would.
func (s *Server) throughServers(ctx context.Context, req MembershipRequest, what string,
	through func(ctx context.Context, server, origin spec.ServerName, req MembershipRequest) (gomatrixserverlib.PDU, error)) (spec.ServerName, bool, error) {
	key, ok := s.keyFor(req.UserID.Domain())
	if !ok {
		return "", false, fmt.Errorf("%w: %s is not a local user", ErrNotAllowed, req.UserID.String())
	}
	var lastErr error = ErrNoServer
	for _, server := range req.Servers {
		if s.isLocal(server) {
			continue
		}
		if !s.policy.Allowed(server) {
			lastErr = fmt.Errorf("%w: %s", ErrNotAllowed, server)
			continue
		}
		ev, err := through(ctx, server, key.ServerName, req)
		if err != nil {
			slog.Info("federation: remote "+what+" failed", "room_id", req.RoomID, "server", server, "err", err)
			lastErr = fmt.Errorf("%w: %s: %v", ErrNoServer, server, err)
			if remote := remoteMatrixError(err); remote != nil {
				// The server answered and refused: the client hears why.
				lastErr = remote
			}
			continue
		}
		_, err = s.rooms.StoreOutOfRoomMembership(ctx, ev)
		return key.ServerName, true, err
	}
	return key.ServerName, false, lastErr
}

// localRejection builds a leave on top of the user's invite, signed by us
// alone.
func (s *Server) localRejection(ctx context.Context, origin spec.ServerName, req MembershipRequest) (gomatrixserverlib.PDU, error) {
	roomID, err := spec.NewRoomID(req.RoomID)
	if err != nil {
		return nil, err
	}
	invite, err := s.querier().CurrentStateEvent(ctx, *roomID, spec.MRoomMember, req.UserID.String())
	if err != nil || invite == nil {
		return nil, fmt.Errorf("%w: no invite to reject", ErrNotFound)
	}
	if m, _ := invite.Membership(); m != spec.Invite && m != spec.Knock {
		return nil, fmt.Errorf("%w: no invite to reject", ErrNotFound)
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(invite.Version())
	if err != nil {
		return nil, err
	}
	key, _ := s.keyFor(origin)
	user := req.UserID.String()
	proto := gomatrixserverlib.ProtoEvent{SenderID: user, RoomID: req.RoomID, Type: spec.MRoomMember, StateKey: &user,
		PrevEvents: []string{invite.EventID()}, AuthEvents: []string{invite.EventID()}, Depth: invite.Depth() + 1}
	if err := proto.SetContent(map[string]string{"membership": spec.Leave}); err != nil {
		return nil, err
	}
	return verImpl.NewEventBuilderFromProtoEvent(&proto).Build(time.Now(), origin, key.ID, key.Private)
}

func (s *Server) leaveThrough(ctx context.Context, server, origin spec.ServerName, req MembershipRequest) (gomatrixserverlib.PDU, error) {
	key, _ := s.keyFor(origin)
	tmpl, err := s.client.MakeLeave(ctx, origin, server, req.RoomID, req.UserID.String())
	if err != nil {
		return nil, err
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(tmpl.RoomVersion)
	if err != nil {
		return nil, err
	}
	proto := tmpl.LeaveEvent
	sender := req.UserID.String()
	proto.SenderID, proto.StateKey, proto.RoomID, proto.Type = sender, &sender, req.RoomID, spec.MRoomMember
	content := map[string]any{}
	if len(req.Content) > 0 {
		if err := json.Unmarshal(req.Content, &content); err != nil {
			return nil, err
		}
	}
	content["membership"] = spec.Leave
	if err := proto.SetContent(content); err != nil {
		return nil, err
	}
	ev, err := verImpl.NewEventBuilderFromProtoEvent(&proto).Build(time.Now(), origin, key.ID, key.Private)
	if err != nil {
		return nil, err
	}
	if err := s.client.SendLeave(ctx, origin, server, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// sendLeaveV1 is the deprecated PUT /_matrix/federation/v1/send_leave,
// answered as [200, {}].
func (s *Server) sendLeaveV1(r *http.Request, origin spec.ServerName, body []byte) (any, error) {
	if _, err := s.sendLeave(r, origin, body); err != nil {
		return nil, err
	}
	return []any{http.StatusOK, struct{}{}}, nil
}
