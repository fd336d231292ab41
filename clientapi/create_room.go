package clientapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/tidwall/gjson"
)

type createRoomBody struct {
	Visibility                string                         `json:"visibility"`
	RoomAliasName             string                         `json:"room_alias_name"`
	Name                      string                         `json:"name"`
	Topic                     string                         `json:"topic"`
	Invite                    []string                       `json:"invite"`
	Invite3PID                []json.RawMessage              `json:"invite_3pid"`
	RoomVersion               string                         `json:"room_version"`
	CreationContent           json.RawMessage                `json:"creation_content"`
	InitialState              []roomserver.InitialStateEvent `json:"initial_state"`
	Preset                    string                         `json:"preset"`
	IsDirect                  bool                           `json:"is_direct"`
	PowerLevelContentOverride json.RawMessage                `json:"power_level_content_override"`
}

var aliasLocalpartRE = regexp.MustCompile(`^[^\s:#]+$`)

// createRoom is POST /createRoom.
func (s *Server) createRoom(r *http.Request, dev *userapi.Device) (any, error) {
	var body createRoomBody
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	switch body.Visibility {
	case "", "private", "public":
	default:
		return nil, mxhttp.BadJSON("visibility must be public or private")
	}
	switch body.Preset {
	case "", "private_chat", "public_chat", "trusted_private_chat":
	default:
		return nil, mxhttp.BadJSON("unknown preset")
	}
	if body.RoomAliasName != "" && !aliasLocalpartRE.MatchString(body.RoomAliasName) {
		return nil, mxhttp.InvalidParam("room_alias_name contains invalid characters")
	}
	for _, raw := range []json.RawMessage{body.CreationContent, body.PowerLevelContentOverride} {
		if len(raw) > 0 && string(raw) != "null" && raw[0] != '{' {
			return nil, mxhttp.BadJSON("creation_content and power_level_content_override must be objects")
		}
	}
	if len(body.PowerLevelContentOverride) > 0 && string(body.PowerLevelContentOverride) != "null" {
		if err := validateStateContent(spec.MRoomPowerLevels, body.PowerLevelContentOverride); err != nil {
			return nil, err
		}
	}
	version := body.RoomVersion
	if version == "" {
		version = s.cfg.DefaultRoomVersion
	}
	powerLevels := [][]byte{body.PowerLevelContentOverride}
	for _, ev := range body.InitialState {
		if ev.Type == spec.MRoomPowerLevels && ev.StateKey == "" {
			powerLevels = append(powerLevels, ev.Content)
		}
	}
	if err := checkCreateRoomCreators(version, dev.UserID.String(), body.CreationContent, powerLevels...); err != nil {
		return nil, err
	}
	for _, ev := range body.InitialState {
		if !gjson.ParseBytes(ev.Content).IsObject() {
			return nil, mxhttp.BadJSON("the content of an initial_state event must be an object")
		}
		if err := validateStateContent(ev.Type, ev.Content); err != nil {
			return nil, err
		}
	}
	req := roomserver.CreateRoomRequest{
		Creator: dev.UserID, RoomVersion: body.RoomVersion, Preset: body.Preset, Visibility: body.Visibility,
		AliasLocalpart: body.RoomAliasName, Name: body.Name, Topic: body.Topic, IsDirect: body.IsDirect,
		InitialState: body.InitialState, CreationContent: body.CreationContent, PowerLevelContentOverride: body.PowerLevelContentOverride,
	}
	if s.encryptByDefault(body.Preset, body.Visibility) && !hasInitialState(body.InitialState, "m.room.encryption") {
		req.InitialState = append([]roomserver.InitialStateEvent{{Type: "m.room.encryption",
			Content: json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)}}, req.InitialState...)
	}
	if string(req.CreationContent) == "null" {
		req.CreationContent = nil
	}
	if string(req.PowerLevelContentOverride) == "null" {
		req.PowerLevelContentOverride = nil
	}
	for _, id := range body.Invite {
		if dev.ShadowBanned {
			break
		}
		u, err := spec.NewUserID(id, true)
		if err != nil {
			return nil, mxhttp.InvalidParam("invalid user id in invite: " + id)
		}
		// Invites through createRoom count against the invitee's limit as
		// /invite's do: a room per invite would otherwise go round it.
		if err := s.limitFor(r.Context(), "rc_invites.per_user", dev, u.String()); err != nil {
			return nil, err
		}
		// A user who blocks invites is left out; the room is still
		// created, as the spec allows.
		switch {
		case !s.isLocalServer(u.Domain()) && s.fed != nil:
			req.InviteLater = append(req.InviteLater, *u)
		case !s.invitesBlocked(r.Context(), *u):
			req.Invite = append(req.Invite, *u)
			// The invitee's profile goes into the invite, as /invite's.
			if p, err := s.users.Profile(r.Context(), *u); s.cfg.IncludeProfileDataOnInvite && err == nil && (p.DisplayName != "" || p.AvatarURL != "") {
				if req.InviteeProfiles == nil {
					req.InviteeProfiles = map[string]roomserver.MemberProfile{}
				}
				req.InviteeProfiles[u.String()] = roomserver.MemberProfile{DisplayName: p.DisplayName, AvatarURL: p.AvatarURL}
			}
		}
	}
	if p, err := s.users.Profile(r.Context(), dev.UserID); err == nil {
		req.CreatorProfile = roomserver.MemberProfile{DisplayName: p.DisplayName, AvatarURL: p.AvatarURL}
	}
	res, err := s.rooms.CreateRoom(r.Context(), req)
	if err != nil {
		return nil, roomError(err)
	}
	s.inviteRemote(r.Context(), res.RoomID, dev.UserID, req.InviteLater, body.IsDirect)
	out := map[string]string{"room_id": res.RoomID}
	if res.Alias != "" {
		out["room_alias"] = res.Alias
	}
	return out, nil
}

// encryptByDefault applies encryption_enabled_by_default_for_room_type; a
// room without a preset is a private chat unless it is public.
func (s *Server) encryptByDefault(preset, visibility string) bool {
	switch s.cfg.EncryptionByDefault {
	case "all":
		return true
	case "invite":
		if preset == "" && visibility == "public" {
			preset = "public_chat"
		}
		return preset != "public_chat"
	}
	return false
}

func hasInitialState(state []roomserver.InitialStateEvent, evType string) bool {
	for _, ev := range state {
		if ev.Type == evType && ev.StateKey == "" {
			return true
		}
	}
	return false
}

// inviteRemote invites createRoom's invitees of other servers once the
// room exists. A server that cannot be reached does not undo the room
// (the spec lets createRoom leave out invitees); the failure is logged.
func (s *Server) inviteRemote(ctx context.Context, roomID string, sender spec.UserID, invitees []spec.UserID, isDirect bool) {
	for _, u := range invitees {
		content := map[string]any{"membership": spec.Invite}
		if isDirect {
			content["is_direct"] = true
		}
		if s.cfg.IncludeProfileDataOnInvite {
			s.addProfile(ctx, u, content)
		}
		raw, _ := json.Marshal(content)
		if _, err := s.fed.InviteRemote(ctx, federationapi.InviteRequest{RoomID: roomID, Sender: sender, Target: u, Content: raw}); err != nil {
			slog.Warn("createRoom: remote invite failed", "room_id", roomID, "invitee", u.String(), "err", err)
		}
	}
}
