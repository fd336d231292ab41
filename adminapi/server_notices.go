package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// Server notices (Synapse's send_server_notice): a system user, made on
// the first notice, sends the admin's event into the user's notices
// room. Each user has one such room, private, tagged m.server_notice
// for them, where they cannot speak (users_default -10); it is made
// again when the user has left it. The user is invited, or joined
// (auto_join).

// noticesTag is the room tag of a notices room (the spec's
// m.server_notice).
const noticesTag = "m.server_notice"

type serverNoticeRequest struct {
	UserID   string          `json:"user_id"`
	Content  json.RawMessage `json:"content"`
	Type     string          `json:"type"`
	StateKey *string         `json:"state_key"`
}

// sendServerNotice is POST /v1/send_server_notice and PUT
// /v1/send_server_notice/{txnId}; a repeated transaction id of the same
// admin answers with the first event.
func (s *Server) sendServerNotice(r *http.Request, admin *userapi.Device) (any, error) {
	cfg := s.cfg.ServerNotices
	if !cfg.On() {
		return nil, mxhttp.InvalidParam("Server notices are not enabled on this server")
	}
	var req serverNoticeRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if req.UserID == "" {
		return nil, mxhttp.MissingParam("Missing user_id")
	}
	var content map[string]any
	if len(req.Content) == 0 || json.Unmarshal(req.Content, &content) != nil || content == nil {
		return nil, mxhttp.MissingParam("Missing content: an object")
	}
	if req.Type == "" {
		req.Type = "m.room.message"
	}
	user, err := spec.NewUserID(req.UserID, true)
	if err != nil || !s.isLocal(user.Domain()) {
		return nil, mxhttp.InvalidParam("Server notices can only be sent to local users")
	}
	setAuditTarget(r, user.String())
	noteAudit(r, "type", req.Type)
	if acc, err := s.users.Account(r.Context(), *user); err != nil || acc.Deactivated {
		return nil, mxhttp.NotFound("User not found")
	}
	system, err := spec.NewUserID("@"+cfg.SystemMXIDLocalpart+":"+string(s.cfg.ServerName), true)
	if err != nil {
		return nil, err
	}
	if *system == *user {
		return nil, mxhttp.InvalidParam("The system user cannot be sent server notices")
	}
	txnID := mux.Vars(r)["txnId"]
	if txnID != "" {
		noteAudit(r, "txn_id", txnID)
		if eventID, err := s.store.NoticeTxn(r.Context(), admin.UserID.String(), txnID); err != nil {
			return nil, err
		} else if eventID != "" {
			return map[string]string{"event_id": eventID}, nil
		}
	}
	if err := s.ensureSystemUser(r.Context(), cfg, *system); err != nil {
		var me *mxhttp.Error
		if errors.As(err, &me) {
			return nil, err
		}
		return nil, fmt.Errorf("server notices system user: %w", err)
	}
	roomID, err := s.noticesRoom(r.Context(), cfg, *system, *user)
	if err != nil {
		return nil, fmt.Errorf("server notices room: %w", err)
	}
	sent, err := s.rooms.SendEvent(r.Context(), roomserver.SendEventRequest{RoomID: roomID, Sender: *system, Type: req.Type,
		StateKey: req.StateKey, Content: req.Content})
	if err != nil {
		return nil, sendError(err)
	}
	noteAudit(r, "event_id", sent.EventID)
	if txnID != "" {
		if err := s.store.SetNoticeTxn(r.Context(), admin.UserID.String(), txnID, sent.EventID); err != nil {
			return nil, err
		}
	}
	return map[string]string{"event_id": sent.EventID}, nil
}

// ensureSystemUser makes the system user on first use (without a
// password or device: nobody logs in as it) and keeps its profile as
// configured.
func (s *Server) ensureSystemUser(ctx context.Context, cfg config.ServerNotices, system spec.UserID) error {
	acc, err := s.users.Account(ctx, system)
	if err == nil && (acc.HasPassword || acc.Deactivated) {
		// Someone registered the name before notices were on: they
		// would own every notices room and read every notice.
		return mxhttp.Unknown("server_notices.system_mxid_localpart names an existing account that was not made for server notices; choose another localpart")
	}
	if errors.Is(err, userapi.ErrNotFound) {
		_, err = s.users.Register(ctx, userapi.RegisterRequest{User: system, NoDevice: true, DisplayName: cfg.SystemMXIDDisplayName})
		if errors.Is(err, userapi.ErrUserInUse) {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	p, err := s.users.Profile(ctx, system)
	if err != nil {
		return err
	}
	var name, avatar *string
	if cfg.SystemMXIDDisplayName != "" && p.DisplayName != cfg.SystemMXIDDisplayName {
		name = &cfg.SystemMXIDDisplayName
	}
	if cfg.SystemMXIDAvatarURL != "" && p.AvatarURL != cfg.SystemMXIDAvatarURL {
		avatar = &cfg.SystemMXIDAvatarURL
	}
	if name != nil || avatar != nil {
		_, err = s.users.SetProfile(ctx, system, name, avatar)
	}
	return err
}

// noticesRoom is the user's notices room, made (and the user invited
// or joined, and the room tagged for them) unless they are in one.
func (s *Server) noticesRoom(ctx context.Context, cfg config.ServerNotices, system, user spec.UserID) (string, error) {
	roomID, err := s.store.NoticeRoom(ctx, user.String())
	if err != nil {
		return "", err
	}
	if roomID != "" {
		m, err := s.rooms.Membership(ctx, roomID, user)
		if err == nil && (m == spec.Join || m == spec.Invite) {
			return roomID, nil
		}
	}
	name := cfg.RoomName
	if name == "" {
		name = config.DefaultNoticesRoomName
	}
	req := roomserver.CreateRoomRequest{Creator: system, Preset: "private_chat", Name: name, Topic: cfg.RoomTopic,
		Invite: []spec.UserID{user}, PowerLevelContentOverride: json.RawMessage(`{"users_default":-10}`)}
	if p, err := s.users.Profile(ctx, system); err == nil {
		req.CreatorProfile = roomserver.MemberProfile{DisplayName: p.DisplayName, AvatarURL: p.AvatarURL}
	}
	if p, err := s.users.Profile(ctx, user); err == nil {
		req.InviteeProfiles = map[string]roomserver.MemberProfile{user.String(): {DisplayName: p.DisplayName, AvatarURL: p.AvatarURL}}
	}
	if cfg.RoomAvatarURL != "" {
		avatar, _ := json.Marshal(map[string]string{"url": cfg.RoomAvatarURL})
		req.InitialState = append(req.InitialState, roomserver.InitialStateEvent{Type: "m.room.avatar", Content: avatar})
	}
	created, err := s.rooms.CreateRoom(ctx, req)
	if err != nil {
		return "", err
	}
	if _, err := s.users.PutTag(ctx, user, created.RoomID, noticesTag, json.RawMessage(`{}`)); err != nil {
		return "", err
	}
	if cfg.AutoJoin {
		key := user.String()
		if _, err := s.rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: created.RoomID, Sender: user, Type: spec.MRoomMember,
			StateKey: &key, Content: s.memberContent(ctx, user, spec.Join)}); err != nil {
			return "", err
		}
	}
	return created.RoomID, s.store.SetNoticeRoom(ctx, user.String(), created.RoomID)
}
