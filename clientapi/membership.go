package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/tidwall/gjson"
)

type membershipBody struct {
	UserID string `json:"user_id"`
	Reason string `json:"reason"`
}

// joinRoom is POST /join/{roomIdOrAlias} and POST /rooms/{roomId}/join.
func (s *Server) joinRoom(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	target := v["roomIdOrAlias"]
	if target == "" {
		target = v["roomId"]
	}
	var body map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	content, err := joinContent(body)
	if err != nil {
		return nil, err
	}
	roomID, aliasServers, err := s.resolveRoomWithServers(r.Context(), target)
	if err != nil {
		return nil, err
	}
	if s.needsRemoteJoin(r.Context(), roomID) {
		if dev.IsGuest {
			return nil, mxhttp.GuestAccess("Guests cannot join rooms on other servers")
		}
		if err := s.limitUser(r.Context(), "rc_joins.remote", dev); err != nil {
			return nil, err
		}
		s.addProfile(r.Context(), dev.UserID, content)
		servers := s.joinServers(r.Context(), r, roomID, dev.UserID, aliasServers)
		raw, _ := json.Marshal(content)
		if _, err := s.fed.JoinRemoteRoom(r.Context(), federationapi.JoinRequest{UserID: dev.UserID, RoomID: roomID, Servers: servers, Content: raw}); err != nil {
			return nil, federationError(err)
		}
		if err := s.carryFromPredecessor(r.Context(), dev.UserID, roomID); err != nil {
			return nil, err
		}
		return map[string]string{"room_id": roomID}, nil
	}
	if dev.IsGuest && !s.guestsCanJoin(r.Context(), roomID) {
		return nil, mxhttp.GuestAccess("Guest access is not allowed in this room")
	}
	if err := s.limitUser(r.Context(), "rc_joins.local", dev); err != nil {
		return nil, err
	}
	if err := s.authoriseRestrictedJoin(r.Context(), roomID, dev.UserID, content); err != nil {
		var refused *mxhttp.Error
		if !errors.As(err, &refused) || refused.Code != string(spec.ErrorUnableToAuthoriseJoin) {
			return nil, err
		}
		if s.fed == nil || dev.IsGuest {
			return nil, mxhttp.Forbidden(refused.Msg)
		}
		// Nobody here may let the user in, but a server in the room that
		// is in an allowed room may: join through the others.
		return s.joinThroughOthers(r, dev, roomID, aliasServers, content, refused)
	}
	s.addProfile(r.Context(), dev.UserID, content)
	if _, err := s.sendMember(r.Context(), roomID, dev.UserID, dev.UserID, content); err != nil {
		return nil, err
	}
	if err := s.carryFromPredecessor(r.Context(), dev.UserID, roomID); err != nil {
		return nil, err
	}
	return map[string]string{"room_id": roomID}, nil
}

// carryFromPredecessor: joining an upgraded room, local or on another
// server, carries the user's direct-chat marking and tags over from its
// predecessor, and our aliases and directory listing of the predecessor
// follow the upgrade (a no-op when it was upgraded here).
func (s *Server) carryFromPredecessor(ctx context.Context, user spec.UserID, roomID string) error {
	create, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomCreate, "")
	if err != nil {
		return nil
	}
	prev := gjson.GetBytes(create.Content, "predecessor.room_id").String()
	if prev == "" {
		return nil
	}
	if err := s.rooms.FollowUpgrade(ctx, prev, roomID); err != nil {
		return roomError(err)
	}
	return s.carryAccountData(ctx, user, prev, roomID)
}

// joinContent makes the member event content of a join from the request
// body. Keys the spec gives no meaning in the body go into the event as
// they are (clients use this for extensible profile data); the keys that
// belong to the join itself do not.
func joinContent(body map[string]json.RawMessage) (map[string]any, error) {
	content := make(map[string]any, len(body)+1)
	for k, v := range body {
		switch k {
		case "third_party_signed":
			// Proof of a third-party invite, not content; unsupported here.
		case "join_authorised_via_users_server":
			// Only the resident server that authorises a restricted join
			// may set this.
		case "reason":
			var reason string
			if err := json.Unmarshal(v, &reason); err != nil {
				return nil, mxhttp.BadJSON("reason must be a string")
			}
			if reason != "" {
				content[k] = reason
			}
		default:
			content[k] = v
		}
	}
	content["membership"] = spec.Join
	return content, nil
}

// authoriseRestrictedJoin names, in a join to a restricted room, the
// member of our server who lets the user in because they are in one of
// the rooms the join rules allow (join_authorised_via_users_server).
func (s *Server) authoriseRestrictedJoin(ctx context.Context, roomID string, user spec.UserID, content map[string]any) error {
	id, err := spec.NewRoomID(roomID)
	if err != nil {
		return mxhttp.InvalidParam("invalid room id")
	}
	via, err := roomserver.Querier{Rooms: s.rooms}.JoinAuthoriser(ctx, *id, user)
	var refused spec.MatrixError
	switch {
	case errors.As(err, &refused) && refused.ErrCode == spec.ErrorUnableToAuthoriseJoin:
		return &mxhttp.Error{Status: http.StatusForbidden, Code: string(spec.ErrorUnableToAuthoriseJoin), Msg: refused.Err}
	case errors.As(err, &refused):
		return mxhttp.Forbidden(refused.Err)
	case err != nil:
		return roomError(err)
	}
	if via != "" {
		content["join_authorised_via_users_server"] = via
	}
	return nil
}

// joinThroughOthers joins a room we are in through the other servers in
// it: for a restricted room that only one of them can authorise the join
// to. Without a server that will, the user hears why ours would not.
func (s *Server) joinThroughOthers(r *http.Request, dev *userapi.Device, roomID string, aliasServers []spec.ServerName, content map[string]any, ours *mxhttp.Error) (any, error) {
	servers := s.joinServers(r.Context(), r, roomID, dev.UserID, aliasServers)
	if inRoom, err := s.rooms.ServersInRoom(r.Context(), roomID); err == nil {
		for _, name := range inRoom {
			if !s.isLocalServer(name) && !slices.Contains(servers, name) {
				servers = append(servers, name)
			}
		}
	}
	if len(servers) == 0 {
		return nil, mxhttp.Forbidden(ours.Msg)
	}
	s.addProfile(r.Context(), dev.UserID, content)
	raw, _ := json.Marshal(content)
	if _, err := s.fed.JoinRemoteRoom(r.Context(), federationapi.JoinRequest{UserID: dev.UserID, RoomID: roomID, Servers: servers, Content: raw}); err != nil {
		return nil, federationError(err)
	}
	return map[string]string{"room_id": roomID}, nil
}

// guestsCanJoin tells whether the room's m.room.guest_access lets guests in.
func (s *Server) guestsCanJoin(ctx context.Context, roomID string) bool {
	ev, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomGuestAccess, "")
	if err != nil {
		return false
	}
	var c struct {
		GuestAccess string `json:"guest_access"`
	}
	return json.Unmarshal(ev.Content, &c) == nil && c.GuestAccess == "can_join"
}

// resolveRoomWithServers turns a room id or alias into a room id and, for
// an alias, the servers in the room.
func (s *Server) resolveRoomWithServers(ctx context.Context, idOrAlias string) (string, []spec.ServerName, error) {
	switch {
	case strings.HasPrefix(idOrAlias, "!"):
		if _, err := spec.NewRoomID(idOrAlias); err != nil {
			return "", nil, mxhttp.InvalidParam("invalid room id")
		}
		return idOrAlias, nil, nil
	case strings.HasPrefix(idOrAlias, "#"):
		if !validAlias(idOrAlias) {
			return "", nil, mxhttp.InvalidParam("invalid room alias")
		}
		return s.resolveAlias(ctx, idOrAlias)
	}
	return "", nil, mxhttp.InvalidParam("not a room id or alias")
}

func validAlias(a string) bool {
	rest, sigil := strings.CutPrefix(a, "#")
	localpart, server, ok := strings.Cut(rest, ":")
	if !sigil || !ok || localpart == "" || len(a) > 255 {
		return false
	}
	_, _, valid := spec.ParseAndValidateServerName(spec.ServerName(server))
	return valid
}

// addProfile puts the user's display name and avatar into member content,
// unless the content already sets them.
func (s *Server) addProfile(ctx context.Context, user spec.UserID, content map[string]any) {
	p, err := s.users.Profile(ctx, user)
	if err != nil {
		return
	}
	for k, v := range map[string]string{fieldDisplayName: p.DisplayName, fieldAvatarURL: p.AvatarURL} {
		if _, set := content[k]; !set && v != "" {
			content[k] = v
		}
	}
}

func (s *Server) sendMember(ctx context.Context, roomID string, sender, target spec.UserID, content map[string]any) (string, error) {
	raw, _ := json.Marshal(content)
	key := target.String()
	res, err := s.rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: roomID, Sender: sender, Type: spec.MRoomMember, StateKey: &key, Content: raw})
	if err != nil {
		return "", roomError(err)
	}
	return res.EventID, nil
}

// membershipChange handles invite, kick, ban and unban: a member event
// about another user.
func (s *Server) membershipChange(membership string) func(*http.Request, *userapi.Device) (any, error) {
	return func(r *http.Request, dev *userapi.Device) (any, error) {
		roomID := mux.Vars(r)["roomId"]
		if err := validRoomID(roomID); err != nil {
			return nil, err
		}
		var body membershipBody
		if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
			return nil, err
		}
		if body.UserID == "" {
			return nil, mxhttp.BadJSON("user_id is required")
		}
		target, err := spec.NewUserID(body.UserID, true)
		if err != nil {
			return nil, mxhttp.InvalidParam("invalid user_id")
		}
		if membership == spec.Invite && dev.ShadowBanned {
			return struct{}{}, nil
		}
		current, err := s.rooms.Membership(r.Context(), roomID, *target)
		if err != nil {
			return nil, roomError(err)
		}
		switch membership {
		case "kick":
			if current != spec.Join && current != spec.Invite && current != spec.Knock {
				return nil, mxhttp.Forbidden("The user is not in the room")
			}
		case "unban":
			if current != spec.Ban {
				return nil, mxhttp.Forbidden("The user is not banned")
			}
		case spec.Invite:
			if current == spec.Join {
				return nil, mxhttp.Forbidden("The user is already in the room")
			}
			if current == spec.Ban {
				return nil, mxhttp.Forbidden("The user is banned from the room")
			}
			if err := s.checkInvitable(r.Context(), *target); err != nil {
				return nil, err
			}
			if err := s.limitFor(r.Context(), "rc_invites.per_room", dev, roomID); err != nil {
				return nil, err
			}
			if err := s.limitFor(r.Context(), "rc_invites.per_user", dev, target.String()); err != nil {
				return nil, err
			}
		}
		content := map[string]any{"membership": membership}
		if membership == "kick" || membership == "unban" {
			content["membership"] = spec.Leave
		}
		if membership == spec.Invite && s.cfg.IncludeProfileDataOnInvite {
			s.addProfile(r.Context(), *target, content)
		}
		if body.Reason != "" {
			content["reason"] = body.Reason
		}
		if membership == spec.Invite && !s.isLocalServer(target.Domain()) && s.fed != nil {
			// The invitee's server signs the invite before it enters the room.
			raw, _ := json.Marshal(content)
			if _, err := s.fed.InviteRemote(r.Context(), federationapi.InviteRequest{RoomID: roomID, Sender: dev.UserID, Target: *target, Content: raw}); err != nil {
				return nil, federationError(err)
			}
			return struct{}{}, nil
		}
		if _, err := s.sendMember(r.Context(), roomID, dev.UserID, *target, content); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	}
}

// leaveRoom is POST /rooms/{roomId}/leave.
func (s *Server) leaveRoom(r *http.Request, dev *userapi.Device) (any, error) {
	roomID := mux.Vars(r)["roomId"]
	if err := validRoomID(roomID); err != nil {
		return nil, err
	}
	var body membershipBody
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	current, err := s.rooms.Membership(r.Context(), roomID, dev.UserID)
	if err != nil {
		return nil, roomError(err)
	}
	if current == spec.Leave || current == spec.Ban {
		// Leaving twice is not an error the client can act on.
		return struct{}{}, nil
	}
	content := map[string]any{"membership": spec.Leave}
	if body.Reason != "" {
		content["reason"] = body.Reason
	}
	if s.needsRemoteJoin(r.Context(), roomID) {
		// Invited (or knocking) into a room no local user is in: the leave
		// goes through a server that is.
		servers := s.joinServers(r.Context(), r, roomID, dev.UserID, nil)
		raw, _ := json.Marshal(content)
		if err := s.fed.LeaveRemoteRoom(r.Context(), federationapi.MembershipRequest{UserID: dev.UserID, RoomID: roomID, Servers: servers, Content: raw}); err != nil {
			return nil, federationError(err)
		}
		return struct{}{}, nil
	}
	if _, err := s.sendMember(r.Context(), roomID, dev.UserID, dev.UserID, content); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// forgetRoom is POST /rooms/{roomId}/forget.
func (s *Server) forgetRoom(r *http.Request, dev *userapi.Device) (any, error) {
	roomID := mux.Vars(r)["roomId"]
	if err := validRoomID(roomID); err != nil {
		return nil, err
	}
	current, err := s.rooms.Membership(r.Context(), roomID, dev.UserID)
	if err != nil {
		return nil, roomError(err)
	}
	if current == spec.Join {
		return nil, mxhttp.Unknown("You must leave the room before forgetting it")
	}
	if err := s.rooms.ForgetRoom(r.Context(), roomID, dev.UserID); err != nil {
		return nil, roomError(err)
	}
	return struct{}{}, nil
}

// joinedRooms is GET /joined_rooms.
func (s *Server) joinedRooms(r *http.Request, dev *userapi.Device) (any, error) {
	rooms, err := s.rooms.JoinedRooms(r.Context(), dev.UserID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"joined_rooms": rooms}, nil
}

// joinedMembers is GET /rooms/{roomId}/joined_members.
func (s *Server) joinedMembers(r *http.Request, dev *userapi.Device) (any, error) {
	roomID := mux.Vars(r)["roomId"]
	if err := validRoomID(roomID); err != nil {
		return nil, err
	}
	m, err := s.rooms.Membership(r.Context(), roomID, dev.UserID)
	if err != nil {
		return nil, roomError(err)
	}
	if m != spec.Join {
		return nil, mxhttp.Forbidden("You are not joined to this room")
	}
	members, err := s.rooms.JoinedMembers(r.Context(), roomID)
	if err != nil {
		return nil, roomError(err)
	}
	joined := make(map[string]roomMember, len(members))
	for u, p := range members {
		joined[u] = roomMember{DisplayName: optional(p.DisplayName), AvatarURL: optional(p.AvatarURL)}
	}
	return map[string]any{"joined": joined}, nil
}

// roomMember is the spec's RoomMember. Both keys are always present, null
// when unset: clients and SyTest rely on the keys, and a null is what an
// unset optional string reads as everywhere else.
type roomMember struct {
	DisplayName *string `json:"display_name"`
	AvatarURL   *string `json:"avatar_url"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
