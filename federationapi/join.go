package federationapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// Another server's user joins one of our rooms: make_join hands out a
// join event built on our view of the room, the user's server signs it,
// and send_join stores it and answers with the room's state before it.

// makeJoin is GET /_matrix/federation/v1/make_join/{roomId}/{userId}.
func (s *Server) makeJoin(r *http.Request, origin spec.ServerName, _ []byte) (any, error) {
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
	remote := []gomatrixserverlib.RoomVersion{}
	for _, v := range r.URL.Query()["ver"] {
		remote = append(remote, gomatrixserverlib.RoomVersion(v))
	}
	if len(remote) == 0 {
		// The spec: a server that names no versions supports version 1.
		remote = append(remote, gomatrixserverlib.RoomVersionV1)
	}
	inRoom, local := s.localServerInRoom(ctx, roomID.String())
	res, err := gomatrixserverlib.HandleMakeJoin(gomatrixserverlib.HandleMakeJoinInput{
		Context: ctx, UserID: *userID, SenderID: spec.SenderID(userID.String()), RoomID: *roomID,
		RoomVersion: gomatrixserverlib.RoomVersion(version), RemoteVersions: remote,
		RequestOrigin: origin, LocalServerName: local, LocalServerInRoom: inRoom,
		RoomQuerier: joinQuerier{s.querier(), *roomID}, UserIDQuerier: userIDForSender,
		BuildEventTemplate: func(proto *gomatrixserverlib.ProtoEvent) (gomatrixserverlib.PDU, []gomatrixserverlib.PDU, error) {
			return s.template(ctx, proto)
		},
	})
	if err != nil {
		return nil, wireError(err)
	}
	return map[string]any{"event": res.JoinTemplateEvent, "room_version": res.RoomVersion}, nil
}

// template fills in a proto event from the roomserver's view of the room.
func (s *Server) template(ctx context.Context, proto *gomatrixserverlib.ProtoEvent) (gomatrixserverlib.PDU, []gomatrixserverlib.PDU, error) {
	res, err := s.rooms.EventTemplate(ctx, roomserver.TemplateRequest{
		RoomID: proto.RoomID, Sender: proto.SenderID, Type: proto.Type, StateKey: proto.StateKey, Content: json.RawMessage(proto.Content),
	})
	if err != nil {
		return nil, nil, wireError(err)
	}
	proto.PrevEvents = res.Event.PrevEventIDs()
	proto.AuthEvents = res.Event.AuthEventIDs()
	proto.Depth = res.Event.Depth()
	auth := res.AuthEvents
	if auth == nil {
		auth = []gomatrixserverlib.PDU{}
	}
	return res.Event, auth, nil
}

// sendJoinResponse is the spec's send_join (v2) answer.
type sendJoinResponse struct {
	Origin         spec.ServerName   `json:"origin"`
	AuthChain      []json.RawMessage `json:"auth_chain"`
	State          []json.RawMessage `json:"state"`
	Event          json.RawMessage   `json:"event,omitempty"`
	MembersOmitted bool              `json:"members_omitted"`
	ServersInRoom  []spec.ServerName `json:"servers_in_room,omitempty"`
}

// sendJoin is PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}.
func (s *Server) sendJoin(r *http.Request, origin spec.ServerName, body []byte) (any, error) {
	ctx := r.Context()
	roomID, err := spec.NewRoomID(mux.Vars(r)["roomId"])
	if err != nil {
		return nil, mxhttp.InvalidParam("invalid room id")
	}
	if err := s.checkACL(ctx, roomID.String(), origin); err != nil {
		return nil, err
	}
	version, err := s.rooms.RoomVersion(ctx, roomID.String())
	if err != nil {
		return nil, wireError(err)
	}
	inRoom, local := s.localServerInRoom(ctx, roomID.String())
	if !inRoom {
		return nil, mxhttp.NotFound("This server is not in the room")
	}
	key, _ := s.keyFor(local)
	res, err := gomatrixserverlib.HandleSendJoin(gomatrixserverlib.HandleSendJoinInput{
		Context: ctx, RoomID: *roomID, EventID: mux.Vars(r)["eventId"], JoinEvent: body,
		RoomVersion: gomatrixserverlib.RoomVersion(version), RequestOrigin: origin,
		LocalServerName: local, KeyID: key.ID, PrivateKey: key.Private, Verifier: s.keyRing,
		MembershipQuerier: s.querier(), UserIDQuerier: userIDForSender,
		StoreSenderIDFromPublicID: func(context.Context, spec.SenderID, string, spec.RoomID) error { return nil },
	})
	if err != nil {
		return nil, wireError(err)
	}
	join := res.JoinEvent
	if !res.AlreadyJoined {
		results, err := s.rooms.InputEvents(ctx, []roomserver.InputEvent{{Kind: roomserver.InputNew, PDU: join}})
		if err != nil {
			return nil, wireError(err)
		}
		if results[0].Rejected || results[0].SoftFailed {
			return nil, mxhttp.Forbidden("The join is not allowed by the room's rules")
		}
	}
	var state *roomserver.RoomState
	if res.AlreadyJoined {
		// A join sent again: the answer is the room as it is.
		state, err = s.rooms.CurrentRoomState(ctx, roomID.String())
	} else {
		state, err = s.rooms.StateBefore(ctx, roomID.String(), join.EventID())
	}
	if err != nil {
		return nil, wireError(err)
	}
	servers, err := s.rooms.ServersInRoom(ctx, roomID.String())
	if err != nil {
		return nil, wireError(err)
	}
	return sendJoinResponse{
		Origin: local, AuthChain: pduJSONs(state.AuthChain), State: pduJSONs(state.State),
		Event: json.RawMessage(join.JSON()), ServersInRoom: servers,
	}, nil
}

// localServerInRoom tells whether a local user is joined to the room, and
// names the local server to act as.
func (s *Server) localServerInRoom(ctx context.Context, roomID string) (bool, spec.ServerName) {
	servers, err := s.rooms.ServersInRoom(ctx, roomID)
	if err == nil {
		for _, name := range servers {
			if s.isLocal(name) {
				return true, name
			}
		}
	}
	return false, s.cfg.ServerName
}

func roomAndUser(r *http.Request) (*spec.RoomID, *spec.UserID, error) {
	roomID, err := spec.NewRoomID(mux.Vars(r)["roomId"])
	if err != nil {
		return nil, nil, mxhttp.InvalidParam("invalid room id")
	}
	userID, err := spec.NewUserID(mux.Vars(r)["userId"], true)
	if err != nil {
		return nil, nil, mxhttp.InvalidParam("invalid user id")
	}
	return roomID, userID, nil
}

func pduJSONs(pdus []gomatrixserverlib.PDU) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(pdus))
	for _, p := range pdus {
		out = append(out, json.RawMessage(p.JSON()))
	}
	return out
}

// userIDForSender maps a sender to a user id; rohrpost does not support
// pseudonymous sender ids, so they are the same.
func userIDForSender(_ spec.RoomID, sender spec.SenderID) (*spec.UserID, error) {
	return spec.NewUserID(string(sender), true)
}

// roomQuerier answers gomatrixserverlib's questions about our rooms: the
// roomserver's Querier, plus what only an invite over federation asks
// (invite.go).
type roomQuerier struct {
	roomserver.Querier
	s *Server
}

func (s *Server) querier() roomQuerier {
	return roomQuerier{roomserver.Querier{Rooms: s.rooms}, s}
}

// joinQuerier is the querier of a make_join to a restricted room. For
// each allowed room gomatrixserverlib asks who of ours is in it and picks
// the first with the power to invite in the restricted room as the
// authoriser. But the authoriser must be joined to the restricted room,
// not the allowed one: so the candidates it gets are our members of the
// restricted room, once the joining user is known to be in an allowed
// room.
type joinQuerier struct {
	roomQuerier
	restricted spec.RoomID
}

func (q joinQuerier) RestrictedRoomJoinInfo(ctx context.Context, allowed spec.RoomID, sender spec.SenderID, local spec.ServerName) (*gomatrixserverlib.RestrictedRoomJoinInfo, error) {
	info, err := q.roomQuerier.RestrictedRoomJoinInfo(ctx, allowed, sender, local)
	if err != nil || !info.UserJoinedToRoom {
		return info, err
	}
	members, err := q.roomQuerier.RestrictedRoomJoinInfo(ctx, q.restricted, sender, local)
	if err != nil {
		return nil, err
	}
	info.JoinedUsers = members.JoinedUsers
	return info, nil
}

// sendJoinV1 is the deprecated PUT /_matrix/federation/v1/send_join,
// which older servers still send: the same join, answered as
// [200, {origin, auth_chain, state}].
func (s *Server) sendJoinV1(r *http.Request, origin spec.ServerName, body []byte) (any, error) {
	res, err := s.sendJoin(r, origin, body)
	if err != nil {
		return nil, err
	}
	sj := res.(sendJoinResponse)
	return []any{http.StatusOK, map[string]any{"origin": sj.Origin, "auth_chain": sj.AuthChain, "state": sj.State}}, nil
}
