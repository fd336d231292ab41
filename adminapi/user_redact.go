package adminapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/adminapi/storage"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// Redacting a user's events (Synapse's POST /v1/user/{userId}/redact):
// the redactions are sent by the user themselves through the
// roomserver's normal path, as a client's would be, after the request
// has been answered; GET /v1/user/redact_status/{redactId} follows them.
// State events stay (redacting a membership or power levels would change
// the room, not hide content), as do redactions and what is redacted
// already.

const (
	redactScheduled = "scheduled"
	redactActive    = "active"
	redactComplete  = "complete"
	redactFailed    = "failed"
	// defaultRedactLimit is how many events per room are redacted when the
	// request does not say, as Synapse.
	defaultRedactLimit = 1000
	redactTimeout      = time.Hour
)

type redactRequest struct {
	Rooms  []string `json:"rooms"`
	Reason *string  `json:"reason"`
	Limit  *int     `json:"limit"`
}

// redactUser is POST /v1/user/{userId}/redact.
func (s *Server) redactUser(r *http.Request, admin *userapi.Device) (any, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return nil, err
	}
	var req redactRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	if req.Rooms == nil {
		return nil, mxhttp.MissingParam("rooms is required (an empty list: all of the user's rooms)")
	}
	limit := defaultRedactLimit
	if req.Limit != nil {
		if *req.Limit <= 0 {
			return nil, mxhttp.InvalidParam("limit must be a positive integer")
		}
		limit = *req.Limit
	}
	for _, room := range req.Rooms {
		if _, err := spec.NewRoomID(room); err != nil {
			return nil, mxhttp.InvalidParam("Not a room ID: " + room)
		}
	}
	rooms := req.Rooms
	if len(rooms) == 0 {
		ms, err := s.roomStore.MembershipsOfUser(r.Context(), user.String())
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			rooms = append(rooms, m.RoomID)
		}
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	task := storage.UserRedaction{ID: hex.EncodeToString(b[:]), UserID: user.String(), Admin: admin.UserID.String(),
		Status: redactScheduled, Failed: "{}", CreatedTS: now}
	if err := s.store.AddUserRedaction(r.Context(), task); err != nil {
		return nil, err
	}
	noteAudit(r, "redact_id", task.ID)
	noteAudit(r, "rooms", rooms)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), redactTimeout)
		defer cancel()
		s.runRedaction(ctx, task.ID, user, rooms, req.Reason, limit)
	}()
	return map[string]string{"redact_id": task.ID}, nil
}

// runRedaction redacts up to limit of user's events in each room,
// oldest first, and records which redactions failed and why.
func (s *Server) runRedaction(ctx context.Context, id string, user spec.UserID, rooms []string, reason *string, limit int) {
	set := func(status string, failed map[string]string) {
		raw, _ := json.Marshal(failed)
		if err := s.store.UpdateUserRedaction(context.WithoutCancel(ctx), id, status, string(raw), time.Now().UnixMilli()); err != nil {
			slog.Error("admin redaction: status not written", "redact_id", id, "status", status, "err", err)
		}
	}
	failed := map[string]string{}
	set(redactActive, failed)
	content := json.RawMessage(`{}`)
	if reason != nil {
		content, _ = json.Marshal(map[string]string{"reason": *reason})
	}
	for _, roomID := range rooms {
		events, err := s.userEvents(ctx, roomID, user, limit)
		if err != nil {
			slog.Error("admin redaction: reading the room failed", "redact_id", id, "room_id", roomID, "err", err)
			set(redactFailed, failed)
			return
		}
		for _, eventID := range events {
			_, err := s.rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: roomID, Sender: user,
				Type: spec.MRoomRedaction, Content: content, Redacts: eventID})
			if err != nil {
				failed[eventID] = err.Error()
			}
		}
	}
	set(redactComplete, failed)
}

// userEvents are the ids of up to limit of the user's events in the room
// that a redaction would hide, oldest first.
func (s *Server) userEvents(ctx context.Context, roomID string, user spec.UserID, limit int) ([]string, error) {
	room, err := s.roomStore.RoomByID(ctx, roomID)
	if errors.Is(err, rsstorage.ErrNotFound) || (err == nil && room == nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	to, err := s.roomStore.MaxStreamPos(ctx)
	if err != nil {
		return nil, err
	}
	senders := []string{user.String()}
	var out []string
	const page = 500
	for from := int64(math.MinInt64 + 1); len(out) < limit; {
		evs, err := s.roomStore.RoomEventsFiltered(ctx, room.NID, from, to, page, false, &rsstorage.EventFilter{Senders: &senders})
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			from = ev.StreamPos
			if ev.StateKey != nil || ev.Type == spec.MRoomRedaction || ev.Redacted || ev.Rejected || len(out) >= limit {
				continue
			}
			out = append(out, ev.ID)
		}
		if len(evs) < page {
			break
		}
	}
	return out, nil
}

// redactStatus is GET /v1/user/redact_status/{redactId}.
func (s *Server) redactStatus(r *http.Request, _ *userapi.Device) (any, error) {
	id := mux.Vars(r)["redactId"]
	if id == "" || len(id) > 64 || strings.ContainsAny(id, "/ ") {
		return nil, mxhttp.InvalidParam("Not a redaction id")
	}
	t, err := s.store.UserRedactionByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, mxhttp.NotFound("Redaction not found")
	}
	return map[string]any{"status": t.Status, "failed_redactions": json.RawMessage(t.Failed)}, nil
}
