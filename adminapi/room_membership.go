package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// Membership by admin: joining a local user to a room
// (POST /v1/join/{roomIdOrAlias}) and giving a user the highest power
// in a room (POST /v1/rooms/{roomIdOrAlias}/make_room_admin). Both act
// through local members' own events, as Synapse does: an admin has no
// power in a room beyond what its local members have.

type userIDBody struct {
	UserID string `json:"user_id"`
}

// pathRoom resolves the path's room id or alias to a room the server
// knows.
func (s *Server) pathRoom(r *http.Request) (string, error) {
	raw := mux.Vars(r)["roomIdOrAlias"]
	roomID := raw
	switch {
	case strings.HasPrefix(raw, "#"):
		id, err := s.rooms.ResolveAlias(r.Context(), raw)
		if err != nil {
			return "", mxhttp.NotFound("Room alias not found: " + raw)
		}
		roomID = id
	case !strings.HasPrefix(raw, "!") || !strings.Contains(raw, ":"):
		return "", mxhttp.InvalidParam(raw + " is not a legal room ID or alias")
	}
	if _, err := s.roomStore.RoomByID(r.Context(), roomID); err != nil {
		return "", mxhttp.NotFound("Room not found")
	}
	setAuditTarget(r, roomID)
	return roomID, nil
}

// bodyUser is the body's user_id, a local user; def when absent.
func (s *Server) bodyUser(r *http.Request, def *spec.UserID) (spec.UserID, error) {
	var body userIDBody
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return spec.UserID{}, err
	}
	if body.UserID == "" {
		if def != nil {
			return *def, nil
		}
		return spec.UserID{}, mxhttp.MissingParam("Missing user_id")
	}
	u, err := spec.NewUserID(body.UserID, true)
	if err != nil || !s.isLocal(u.Domain()) {
		return spec.UserID{}, mxhttp.InvalidParam("user_id must be a local user")
	}
	if acc, err := s.users.Account(r.Context(), *u); err != nil || acc.Deactivated {
		return spec.UserID{}, mxhttp.NotFound("User not found")
	}
	noteAudit(r, "user_id", u.String())
	return *u, nil
}

// joinUser is POST /v1/join/{roomIdOrAlias} {"user_id"}: the user joins
// a room that is open to them, or one the admin is in and invites them
// to first.
func (s *Server) joinUser(r *http.Request, admin *userapi.Device) (any, error) {
	roomID, err := s.pathRoom(r)
	if err != nil {
		return nil, err
	}
	user, err := s.bodyUser(r, nil)
	if err != nil {
		return nil, err
	}
	if blocked, err := s.RoomBlocked(r.Context(), roomID); err != nil {
		return nil, err
	} else if blocked {
		return nil, mxhttp.Forbidden("This room has been blocked on this server")
	}
	public := false
	if jr, err := s.rooms.StateEvent(r.Context(), roomID, spec.MRoomJoinRules, ""); err == nil {
		var c struct {
			JoinRule string `json:"join_rule"`
		}
		_ = json.Unmarshal(jr.Content, &c)
		public = c.JoinRule == spec.Public
	}
	if !public {
		m, err := s.rooms.Membership(r.Context(), roomID, admin.UserID)
		if err != nil || m != spec.Join {
			return nil, mxhttp.Forbidden("The room is not public and you are not in it: you cannot invite the user")
		}
		if um, _ := s.rooms.Membership(r.Context(), roomID, user); um != spec.Join && um != spec.Invite {
			key := user.String()
			if _, err := s.rooms.SendEvent(r.Context(), roomserver.SendEventRequest{RoomID: roomID, Sender: admin.UserID,
				Type: spec.MRoomMember, StateKey: &key, Content: s.memberContent(r.Context(), user, spec.Invite)}); err != nil {
				return nil, sendError(err)
			}
		}
	}
	key := user.String()
	if _, err := s.rooms.SendEvent(r.Context(), roomserver.SendEventRequest{RoomID: roomID, Sender: user, Type: spec.MRoomMember,
		StateKey: &key, Content: s.memberContent(r.Context(), user, spec.Join)}); err != nil {
		return nil, sendError(err)
	}
	return map[string]string{"room_id": roomID}, nil
}

// makeRoomAdmin is POST /v1/rooms/{roomIdOrAlias}/make_room_admin
// {"user_id"} (the admin when absent): the local member with the most
// power gives the user as much, and invites them unless the room is
// public.
func (s *Server) makeRoomAdmin(r *http.Request, admin *userapi.Device) (any, error) {
	roomID, err := s.pathRoom(r)
	if err != nil {
		return nil, err
	}
	user, err := s.bodyUser(r, &admin.UserID)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	members, err := s.rooms.JoinedMembers(ctx, roomID)
	if err != nil {
		return nil, roomError(err)
	}
	pl := map[string]any{}
	if ev, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomPowerLevels, ""); err == nil {
		_ = json.Unmarshal(ev.Content, &pl)
	}
	users, _ := pl["users"].(map[string]any)
	if users == nil {
		users = map[string]any{}
	}
	level := func(u string) float64 {
		if v, ok := users[u].(float64); ok {
			return v
		}
		v, _ := pl["users_default"].(float64)
		return v
	}
	creators := s.roomCreators(r, roomID)
	type candidate struct {
		id    string
		level float64
	}
	var cands []candidate
	for u := range members {
		if !s.isLocalUserID(u) {
			continue
		}
		c := candidate{u, level(u)}
		if creators[u] {
			// Creators of rooms of version 12 and later have power above
			// every level.
			c.level = 1 << 53
		}
		cands = append(cands, c)
	}
	sort.Slice(cands, func(i, k int) bool {
		if cands[i].level != cands[k].level {
			return cands[i].level > cands[k].level
		}
		return cands[i].id < cands[k].id
	})
	granted := ""
	for _, c := range cands {
		if creators[user.String()] {
			granted = c.id // already above every level
			break
		}
		give := c.level
		if creators[c.id] {
			give = 100
			for _, v := range users {
				if f, ok := v.(float64); ok && f > give {
					give = f
				}
			}
		}
		if level(user.String()) >= give {
			granted = c.id
			break
		}
		next := map[string]any{}
		for k, v := range pl {
			next[k] = v
		}
		nextUsers := map[string]any{}
		for k, v := range users {
			nextUsers[k] = v
		}
		nextUsers[user.String()] = give
		next["users"] = nextUsers
		content, _ := json.Marshal(next)
		sender, err := spec.NewUserID(c.id, true)
		if err != nil {
			continue
		}
		empty := ""
		if _, err := s.rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: roomID, Sender: *sender, Type: spec.MRoomPowerLevels,
			StateKey: &empty, Content: content}); err != nil {
			continue
		}
		granted = c.id
		break
	}
	if granted == "" {
		return nil, mxhttp.InvalidParam("No local member of the room has the power to change its power levels")
	}
	noteAudit(r, "granted_by", granted)
	if m, _ := s.rooms.Membership(ctx, roomID, user); m != spec.Join && m != spec.Invite {
		public := false
		if jr, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomJoinRules, ""); err == nil {
			var c struct {
				JoinRule string `json:"join_rule"`
			}
			_ = json.Unmarshal(jr.Content, &c)
			public = c.JoinRule == spec.Public
		}
		if !public {
			inviter, _ := spec.NewUserID(granted, true)
			key := user.String()
			if _, err := s.rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: roomID, Sender: *inviter, Type: spec.MRoomMember,
				StateKey: &key, Content: s.memberContent(ctx, user, spec.Invite)}); err != nil {
				return nil, sendError(err)
			}
		}
	}
	return map[string]any{}, nil
}

// roomCreators are the room's creators where the room version gives them
// power above every level (version 12 on), empty otherwise.
func (s *Server) roomCreators(r *http.Request, roomID string) map[string]bool {
	out := map[string]bool{}
	version, err := s.rooms.RoomVersion(r.Context(), roomID)
	if err != nil || !privilegedCreators(version) {
		return out
	}
	ev, err := s.rooms.StateEvent(r.Context(), roomID, spec.MRoomCreate, "")
	if err != nil {
		return out
	}
	var client struct {
		Sender  string `json:"sender"`
		Content struct {
			AdditionalCreators []string `json:"additional_creators"`
		} `json:"content"`
	}
	_ = json.Unmarshal(ev.Client, &client)
	out[client.Sender] = true
	for _, c := range client.Content.AdditionalCreators {
		out[c] = true
	}
	return out
}

// sendError maps the roomserver's refusals of an event.
func sendError(err error) error {
	switch {
	case errors.Is(err, roomserver.ErrForbidden):
		return mxhttp.Forbidden(err.Error())
	case errors.Is(err, roomserver.ErrRoomNotFound):
		return mxhttp.NotFound("Room not found")
	}
	return err
}

// privilegedCreators tells whether the room version gives its creators
// unlimited power.
func privilegedCreators(version string) bool {
	impl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	return err == nil && impl.PrivilegedCreators()
}
