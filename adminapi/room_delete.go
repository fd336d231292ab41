package adminapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/adminapi/storage"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// Deleting a room (Synapse's DELETE /v2/rooms/{roomId}): the local
// members leave it (each sends their own leave, as Synapse has them do,
// so no power level stands in the way), are moved to a new room if the
// admin names a user to own one, the local aliases go (to the new room
// if there is one), the room leaves the directory, and with purge every
// row of the room goes from the database. It runs after the request has
// been answered; its status is kept in admin_room_tasks, so every client
// API process can answer for it.

// Synapse's defaults for the room the members are moved to.
const (
	defaultNewRoomName    = "Content Violation Notification"
	defaultNewRoomMessage = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked."
)

// Task kinds and statuses of admin_room_tasks.
const (
	taskDelete       = "delete"
	taskPurgeHistory = "purge_history"

	statusShuttingDown = "shutting_down"
	statusPurging      = "purging"
	statusActive       = "active"
	statusComplete     = "complete"
	statusFailed       = "failed"
)

// roomTaskTimeout bounds a delete or purge that runs after its request.
const roomTaskTimeout = 30 * time.Minute

// interrupted tells whether a task that has not ended can no longer be
// running: every task ends, one way or another, within roomTaskTimeout,
// so one silent for longer was cut off by the stop of its process.
func interrupted(t storage.RoomTask, now time.Time) bool {
	switch t.Status {
	case statusShuttingDown, statusPurging, statusActive:
		return now.Sub(time.UnixMilli(t.Updated)) > roomTaskTimeout+time.Minute
	}
	return false
}

// shownTask is a task as the status endpoints show it: an interrupted
// one has failed.
func shownTask(t storage.RoomTask) storage.RoomTask {
	if interrupted(t, time.Now()) {
		t.Status, t.Error = statusFailed, "interrupted: the process that ran it stopped"
	}
	return t
}

type deleteRoomRequest struct {
	Block         bool    `json:"block"`
	Purge         *bool   `json:"purge"`
	ForcePurge    bool    `json:"force_purge"`
	NewRoomUserID *string `json:"new_room_user_id"`
	RoomName      string  `json:"room_name"`
	Message       string  `json:"message"`
}

// shutdownResult is Synapse's shutdown_room object.
type shutdownResult struct {
	KickedUsers       []string `json:"kicked_users"`
	FailedToKickUsers []string `json:"failed_to_kick_users"`
	LocalAliases      []string `json:"local_aliases"`
	NewRoomID         *string  `json:"new_room_id"`
}

func newShutdownResult() shutdownResult {
	return shutdownResult{KickedUsers: []string{}, FailedToKickUsers: []string{}, LocalAliases: []string{}}
}

// deleteJob is one room delete as the request asked for it.
type deleteJob struct {
	roomID  string
	known   bool
	purge   bool
	req     deleteRoomRequest
	newUser *spec.UserID
	admin   string
}

// parseDelete reads and checks a delete request; the room must exist
// unless it is only to be blocked.
func (s *Server) parseDelete(r *http.Request, admin *userapi.Device) (*deleteJob, error) {
	roomID, err := blockRoomID(r)
	if err != nil {
		return nil, err
	}
	var req deleteRoomRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	job := &deleteJob{roomID: roomID, req: req, purge: req.Purge == nil || *req.Purge, admin: admin.UserID.String()}
	if req.NewRoomUserID != nil {
		u, err := spec.NewUserID(*req.NewRoomUserID, true)
		if err != nil || !s.isLocal(u.Domain()) {
			return nil, mxhttp.InvalidParam("new_room_user_id must be a local user")
		}
		acc, err := s.users.Account(r.Context(), *u)
		if err != nil || acc.Deactivated {
			return nil, mxhttp.NotFound("new_room_user_id: no such user")
		}
		job.newUser = u
	}
	if _, err := s.roomByPath(r); err == nil {
		job.known = true
	} else if !req.Block {
		return nil, err
	}
	noteAudit(r, "block", req.Block)
	noteAudit(r, "purge", job.purge)
	noteAudit(r, "force_purge", req.ForcePurge)
	if job.newUser != nil {
		noteAudit(r, "new_room_user_id", job.newUser.String())
	}
	return job, nil
}

// deleteRoom is DELETE /v2/rooms/{roomId}: it answers with the delete's
// id at once and deletes the room after.
func (s *Server) deleteRoom(r *http.Request, admin *userapi.Device) (any, error) {
	job, task, err := s.startDelete(r, admin)
	if err != nil {
		return nil, err
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), roomTaskTimeout)
		defer cancel()
		s.runDelete(ctx, task, job)
	}()
	return map[string]string{"delete_id": task.ID}, nil
}

// deleteRoomV1 is the old, synchronous DELETE /v1/rooms/{roomId} (and
// POST /v1/rooms/{roomId}/delete): it answers with the shutdown result
// once the delete is done.
func (s *Server) deleteRoomV1(r *http.Request, admin *userapi.Device) (any, error) {
	job, task, err := s.startDelete(r, admin)
	if err != nil {
		return nil, err
	}
	// The delete goes on when the admin's client gives up waiting.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), roomTaskTimeout)
	defer cancel()
	res, err := s.runDelete(ctx, task, job)
	if err != nil {
		return nil, mxhttp.Unknown("The room delete failed: " + err.Error())
	}
	return res, nil
}

// refuseConcurrent refuses a second delete of a room while one runs.
func (s *Server) refuseConcurrent(ctx context.Context, roomID string) error {
	tasks, err := s.store.RoomTasks(ctx, taskDelete, roomID)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if (t.Status == statusShuttingDown || t.Status == statusPurging) && !interrupted(t, time.Now()) {
			return mxhttp.InvalidParam("A delete of this room is already in progress: " + t.ID)
		}
	}
	return nil
}

// startDelete reads a delete request of either version and records its
// task, unless a delete of the room is already running.
func (s *Server) startDelete(r *http.Request, admin *userapi.Device) (*deleteJob, storage.RoomTask, error) {
	job, err := s.parseDelete(r, admin)
	if err != nil {
		return nil, storage.RoomTask{}, err
	}
	if err := s.refuseConcurrent(r.Context(), job.roomID); err != nil {
		return nil, storage.RoomTask{}, err
	}
	task, err := s.startTask(r.Context(), taskDelete, job.roomID, statusShuttingDown)
	if err != nil {
		return nil, storage.RoomTask{}, err
	}
	noteAudit(r, "delete_id", task.ID)
	return job, task, nil
}

func (s *Server) startTask(ctx context.Context, kind, roomID, status string) (storage.RoomTask, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	now := time.Now().UnixMilli()
	t := storage.RoomTask{ID: hex.EncodeToString(b[:]), Kind: kind, RoomID: roomID, Status: status, CreatedTS: now, Updated: now}
	return t, s.store.AddRoomTask(ctx, t)
}

// setTask records a task's progress. A failure to record it is logged:
// the task itself goes on.
func (s *Server) setTask(ctx context.Context, t *storage.RoomTask, status, errMsg string, result any) {
	t.Status, t.Error, t.Updated = status, errMsg, time.Now().UnixMilli()
	if result != nil {
		raw, _ := json.Marshal(result)
		t.Result = string(raw)
	}
	if err := s.store.UpdateRoomTask(context.WithoutCancel(ctx), *t); err != nil {
		slog.Error("admin room task: status not recorded", "task", t.ID, "room_id", t.RoomID, "status", status, "err", err)
	}
}

// runDelete carries out a delete and records how far it got.
func (s *Server) runDelete(ctx context.Context, task storage.RoomTask, job *deleteJob) (shutdownResult, error) {
	res, err := s.shutdownRoom(ctx, &task, job)
	if err != nil {
		slog.Warn("admin room delete failed", "room_id", job.roomID, "delete_id", task.ID, "err", err)
		s.setTask(ctx, &task, statusFailed, err.Error(), res)
		return res, err
	}
	s.setTask(ctx, &task, statusComplete, "", res)
	slog.Info("admin room delete", "room_id", job.roomID, "delete_id", task.ID, "by", job.admin, "purge", job.purge,
		"kicked", len(res.KickedUsers), "failed_to_kick", len(res.FailedToKickUsers))
	return res, nil
}

func (s *Server) shutdownRoom(ctx context.Context, task *storage.RoomTask, job *deleteJob) (shutdownResult, error) {
	res := newShutdownResult()
	if job.req.Block {
		if err := s.store.BlockRoom(ctx, job.roomID, job.admin, time.Now().UnixMilli(), true); err != nil {
			return res, fmt.Errorf("block: %w", err)
		}
	}
	if !job.known {
		return res, nil
	}
	var newRoomID string
	if job.newUser != nil {
		id, err := s.createViolationRoom(ctx, job)
		if err != nil {
			return res, fmt.Errorf("new room: %w", err)
		}
		newRoomID = id
		res.NewRoomID = &id
	}
	members, err := s.rooms.RoomMemberships(ctx, job.roomID)
	if err != nil {
		return res, err
	}
	users := make([]string, 0, len(members))
	for u, m := range members {
		// Synapse's "local users related to the room": all but those
		// who left or were banned.
		if (m == spec.Join || m == spec.Invite || m == spec.Knock) && s.isLocalUserID(u) {
			users = append(users, u)
		}
	}
	sort.Strings(users)
	for _, u := range users {
		if err := s.leaveAndMove(ctx, job.roomID, newRoomID, u, members[u]); err != nil {
			slog.Warn("admin room delete: member not removed", "room_id", job.roomID, "user", u, "err", err)
			res.FailedToKickUsers = append(res.FailedToKickUsers, u)
			continue
		}
		res.KickedUsers = append(res.KickedUsers, u)
	}
	aliases, err := s.rooms.MoveAliases(ctx, job.roomID, newRoomID)
	if err != nil {
		return res, fmt.Errorf("aliases: %w", err)
	}
	if aliases != nil {
		res.LocalAliases = aliases
	}
	if err := s.rooms.SetVisibility(ctx, job.roomID, "private"); err != nil {
		return res, fmt.Errorf("delist: %w", err)
	}
	if !job.purge {
		return res, nil
	}
	if len(res.FailedToKickUsers) > 0 && !job.req.ForcePurge {
		return res, errors.New("cannot purge the room: local users are still in it (force_purge purges anyway)")
	}
	s.setTask(ctx, task, statusPurging, "", res)
	if err := s.rooms.PurgeRoom(ctx, job.roomID); err != nil {
		return res, fmt.Errorf("purge: %w", err)
	}
	return res, nil
}

// leaveAndMove makes a local member leave the room (rejecting an invite,
// withdrawing a knock) and join the new room, if there is one, when it
// was joined.
func (s *Server) leaveAndMove(ctx context.Context, roomID, newRoomID, userID, membership string) error {
	u, err := spec.NewUserID(userID, true)
	if err != nil {
		return err
	}
	key := u.String()
	if _, err := s.rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: roomID, Sender: *u, Type: spec.MRoomMember,
		StateKey: &key, Content: json.RawMessage(`{"membership":"leave"}`)}); err != nil {
		return err
	}
	if newRoomID == "" || membership != spec.Join {
		return nil
	}
	_, err = s.rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: newRoomID, Sender: *u, Type: spec.MRoomMember,
		StateKey: &key, Content: s.memberContent(ctx, *u, spec.Join)})
	return err
}

// memberContent is a member event's content with the user's profile.
func (s *Server) memberContent(ctx context.Context, u spec.UserID, membership string) json.RawMessage {
	c := map[string]string{"membership": membership}
	if p, err := s.users.Profile(ctx, u); err == nil {
		if p.DisplayName != "" {
			c["displayname"] = p.DisplayName
		}
		if p.AvatarURL != "" {
			c["avatar_url"] = p.AvatarURL
		}
	}
	raw, _ := json.Marshal(c)
	return raw
}

// createViolationRoom creates the room the members are moved to, owned
// by new_room_user_id, where the others cannot speak, with the admin's
// message in it.
func (s *Server) createViolationRoom(ctx context.Context, job *deleteJob) (string, error) {
	name, msg := job.req.RoomName, job.req.Message
	if name == "" {
		name = defaultNewRoomName
	}
	if msg == "" {
		msg = defaultNewRoomMessage
	}
	created, err := s.rooms.CreateRoom(ctx, roomserver.CreateRoomRequest{Creator: *job.newUser, Preset: "public_chat", Name: name,
		PowerLevelContentOverride: json.RawMessage(`{"users_default":-10}`)})
	if err != nil {
		return "", err
	}
	content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": msg})
	if _, err := s.rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: created.RoomID, Sender: *job.newUser,
		Type: "m.room.message", Content: content}); err != nil {
		return created.RoomID, err
	}
	return created.RoomID, nil
}

func (s *Server) isLocalUserID(userID string) bool {
	u, err := spec.NewUserID(userID, true)
	return err == nil && s.isLocal(u.Domain())
}

// deleteStatusJSON is one delete as the status endpoints show it.
func deleteStatusJSON(t storage.RoomTask, withID bool) map[string]any {
	t = shownTask(t)
	out := map[string]any{"status": t.Status}
	if withID {
		out["delete_id"] = t.ID
	}
	if t.Error != "" {
		out["error"] = t.Error
	}
	res := newShutdownResult()
	_ = json.Unmarshal([]byte(t.Result), &res)
	out["shutdown_room"] = res
	return out
}

// deleteStatusByID is GET /v2/rooms/delete_status/{deleteId}.
func (s *Server) deleteStatusByID(r *http.Request, _ *userapi.Device) (any, error) {
	t, err := s.store.RoomTaskByID(r.Context(), taskDelete, mux.Vars(r)["deleteId"])
	if errors.Is(err, storage.ErrNotFound) {
		return nil, mxhttp.NotFound("delete id not found")
	}
	if err != nil {
		return nil, err
	}
	return deleteStatusJSON(t, false), nil
}

// deleteStatusByRoom is GET /v2/rooms/{roomId}/delete_status: every
// delete of the room, oldest first.
func (s *Server) deleteStatusByRoom(r *http.Request, _ *userapi.Device) (any, error) {
	roomID, err := blockRoomID(r)
	if err != nil {
		return nil, err
	}
	tasks, err := s.store.RoomTasks(r.Context(), taskDelete, roomID)
	if err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, mxhttp.NotFound("No delete task for room")
	}
	out := make([]map[string]any, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, deleteStatusJSON(t, true))
	}
	return map[string]any{"results": out}, nil
}
