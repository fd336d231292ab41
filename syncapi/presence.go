package syncapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// Presence can be switched off (presence.enabled: false): then nothing is
// stored or shown, and every user reads as offline, because an online
// status can be used to monitor staff.

// activeRefresh bounds how often a syncing client rewrites its presence.
const activeRefresh = time.Minute

// currentlyActiveWindow is how recent activity must be to count as current.
const currentlyActiveWindow = 5 * time.Minute

var presenceStates = map[string]bool{"online": true, "offline": true, "unavailable": true}

// handleGetPresence is GET /presence/{userId}/status.
func (s *Server) handleGetPresence(r *http.Request, dev *userapi.Device) (any, error) {
	target := mux.Vars(r)["userId"]
	if _, err := spec.NewUserID(target, true); err != nil {
		return nil, mxhttp.InvalidParam("invalid user id")
	}
	if !s.cfg.Presence.Enabled {
		return map[string]any{"presence": "offline"}, nil
	}
	if target != dev.UserID.String() && !s.sharesRoom(r.Context(), dev.UserID.String(), target) {
		return nil, mxhttp.Forbidden("You do not share a room with this user")
	}
	p, ok, err := s.store.GetPresence(r.Context(), target)
	if err != nil {
		return nil, err
	}
	if !ok {
		// Nobody has seen the user yet: they are offline.
		return map[string]any{"presence": "offline"}, nil
	}
	return presenceContent(p, time.Now()), nil
}

// handlePutPresence is PUT /presence/{userId}/status.
func (s *Server) handlePutPresence(r *http.Request, dev *userapi.Device) (any, error) {
	if mux.Vars(r)["userId"] != dev.UserID.String() {
		return nil, mxhttp.Forbidden("You cannot set the presence of another user")
	}
	var body struct {
		Presence  string  `json:"presence"`
		StatusMsg *string `json:"status_msg"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if !presenceStates[body.Presence] {
		return nil, mxhttp.InvalidParam("presence must be online, unavailable or offline")
	}
	if !s.cfg.Presence.Enabled {
		return struct{}{}, nil
	}
	return struct{}{}, s.setPresence(r.Context(), dev.UserID.String(), body.Presence, body.StatusMsg, true)
}

// setPresence stores and announces a presence change.
func (s *Server) setPresence(ctx context.Context, user, presence string, statusMsg *string, keepMsg bool) error {
	now := time.Now().UnixMilli()
	old, ok, err := s.store.GetPresence(ctx, user)
	if err != nil {
		return err
	}
	if !keepMsg && ok {
		statusMsg = old.StatusMsg
	}
	p := storage.Presence{UserID: user, Presence: presence, StatusMsg: statusMsg, LastActiveTS: now}
	pos, err := s.store.PutPresence(ctx, p)
	if err != nil {
		return err
	}
	s.publishWake(syncWake{Presence: pos, UserID: user})
	s.federatePresence(ctx, p)
	return nil
}

// touchPresence records that a client synced with set_presence, writing
// only when the state changed or the last write is old.
func (s *Server) touchPresence(ctx context.Context, user, presence string) error {
	if !s.cfg.Presence.Enabled {
		return nil
	}
	old, ok, err := s.store.GetPresence(ctx, user)
	if err != nil {
		return err
	}
	if ok && old.Presence == presence && time.Since(time.UnixMilli(old.LastActiveTS)) < activeRefresh {
		return nil
	}
	return s.setPresence(ctx, user, presence, nil, false)
}

// wakeCoMembers advances the position and wakes everyone sharing a room
// with user, and user.
func (s *Server) wakeCoMembers(ctx context.Context, user string, to Token) {
	users := []string{user}
	if ms, err := s.events.MembershipsOfUser(ctx, user); err == nil {
		for _, m := range ms {
			if m.Membership != spec.Join {
				continue
			}
			s.ensureRoomMembers(m.RoomID)
			s.notifier.advanceRoom(to, m.RoomID)
		}
	}
	s.notifier.advance(to, users...)
}

// sharesRoom tells whether two users are joined to a common room.
func (s *Server) sharesRoom(ctx context.Context, a, b string) bool {
	ma, err := s.events.MembershipsOfUser(ctx, a)
	if err != nil {
		return false
	}
	mb, err := s.events.MembershipsOfUser(ctx, b)
	if err != nil {
		return false
	}
	joined := map[int64]bool{}
	for _, m := range ma {
		if m.Membership == spec.Join {
			joined[m.RoomNID] = true
		}
	}
	for _, m := range mb {
		if m.Membership == spec.Join && joined[m.RoomNID] {
			return true
		}
	}
	return false
}

func presenceContent(p storage.Presence, now time.Time) map[string]any {
	ago := now.UnixMilli() - p.LastActiveTS
	c := map[string]any{
		"presence":         p.Presence,
		"last_active_ago":  max(0, ago),
		"currently_active": p.Presence == "online" && time.Duration(ago)*time.Millisecond < currentlyActiveWindow,
	}
	if p.StatusMsg != nil {
		c["status_msg"] = *p.StatusMsg
	}
	return c
}

// presenceEvents renders the presence changes a syncing user may see:
// their own and those of users they share a room with.
func (s *Server) presenceEvents(ctx context.Context, req *syncRequest, since, to Token) ([]json.RawMessage, error) {
	if !s.cfg.Presence.Enabled {
		return nil, nil
	}
	changes, err := s.store.PresenceSince(ctx, since.Presence, to.Presence)
	if err != nil || len(changes) == 0 {
		return nil, err
	}
	user := req.device.UserID.String()
	visible := map[string]bool{user: true}
	ms, err := s.events.MembershipsOfUser(ctx, user)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Membership != spec.Join {
			continue
		}
		members, err := s.rooms.JoinedMembers(ctx, m.RoomID)
		if err != nil {
			continue
		}
		for u := range members {
			visible[u] = true
		}
	}
	now := time.Now()
	var out []json.RawMessage
	for _, p := range changes {
		if !visible[p.UserID] || !req.filter.Presence.Allows("m.presence", p.UserID) {
			continue
		}
		ev, _ := json.Marshal(map[string]any{"type": "m.presence", "sender": p.UserID, "content": presenceContent(p, now)})
		out = append(out, ev)
	}
	return out, nil
}

// presenceOfNewMembers returns the current presence of users the client
// has never been told about: the members of rooms the user just joined, and
// users who just joined one of the user's rooms. Users already in the
// response are skipped.
func (s *Server) presenceOfNewMembers(ctx context.Context, req *syncRequest, rooms, joiners []string, already []json.RawMessage) ([]json.RawMessage, error) {
	if !s.cfg.Presence.Enabled || len(rooms)+len(joiners) == 0 {
		return nil, nil
	}
	done := map[string]bool{req.device.UserID.String(): true}
	for _, ev := range already {
		var e struct {
			Sender string `json:"sender"`
		}
		if json.Unmarshal(ev, &e) == nil {
			done[e.Sender] = true
		}
	}
	now := time.Now()
	var out []json.RawMessage
	users := append([]string(nil), joiners...)
	for _, roomID := range rooms {
		members, err := s.rooms.JoinedMembers(ctx, roomID)
		if err != nil {
			continue
		}
		for u := range members {
			users = append(users, u)
		}
	}
	for _, u := range users {
		if done[u] || !req.filter.Presence.Allows("m.presence", u) {
			continue
		}
		done[u] = true
		p, ok, err := s.store.GetPresence(ctx, u)
		if err != nil {
			return nil, err
		}
		content := map[string]any{"presence": "offline"}
		if ok {
			content = presenceContent(p, now)
		}
		ev, _ := json.Marshal(map[string]any{"type": "m.presence", "sender": u, "content": content})
		out = append(out, ev)
	}
	return out, nil
}
