package adminapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/adminapi/storage"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// Synapse's purge history API: timeline events of a room older than an
// event or a time are removed from the database; state events, the
// room's newest event and its forward extremities always stay (the
// roomserver's PurgeHistory), and by default so does what local users
// sent. It runs after the request has been answered.

type purgeHistoryRequest struct {
	DeleteLocalEvents bool   `json:"delete_local_events"`
	PurgeUpToEventID  string `json:"purge_up_to_event_id"`
	PurgeUpToTS       *int64 `json:"purge_up_to_ts"`
}

// purgeHistory is POST /v1/purge_history/{roomId}[/{eventId}].
func (s *Server) purgeHistory(r *http.Request, _ *userapi.Device) (any, error) {
	room, err := s.roomRow(r)
	if err != nil {
		return nil, err
	}
	var body purgeHistoryRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	req := roomserver.PurgeHistoryRequest{RoomID: room.ID, UpToEventID: body.PurgeUpToEventID, DeleteLocal: body.DeleteLocalEvents}
	if e := mux.Vars(r)["eventId"]; e != "" {
		req.UpToEventID = e
	}
	switch {
	case req.UpToEventID != "":
		ev, err := s.roomStore.EventByID(r.Context(), req.UpToEventID)
		if err != nil || ev.RoomNID != room.NID || ev.StreamPos == 0 {
			return nil, mxhttp.NotFound("Event not found in the room: " + req.UpToEventID)
		}
	case body.PurgeUpToTS != nil && *body.PurgeUpToTS >= 0:
		req.UpToTS = *body.PurgeUpToTS
	default:
		return nil, mxhttp.MissingParam("Missing purge_up_to_event_id or purge_up_to_ts")
	}
	noteAudit(r, "delete_local_events", req.DeleteLocal)
	if req.UpToEventID != "" {
		noteAudit(r, "purge_up_to_event_id", req.UpToEventID)
	} else {
		noteAudit(r, "purge_up_to_ts", req.UpToTS)
	}
	task, err := s.startTask(r.Context(), taskPurgeHistory, room.ID, statusActive)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "purge_id", task.ID)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), roomTaskTimeout)
		defer cancel()
		if err := s.rooms.PurgeHistory(ctx, req); err != nil {
			slog.Warn("admin purge history failed", "room_id", room.ID, "purge_id", task.ID, "err", err)
			s.setTask(ctx, &task, statusFailed, err.Error(), nil)
			return
		}
		s.setTask(ctx, &task, statusComplete, "", nil)
	}()
	return map[string]string{"purge_id": task.ID}, nil
}

// purgeHistoryStatus is GET /v1/purge_history_status/{purgeId}.
func (s *Server) purgeHistoryStatus(r *http.Request, _ *userapi.Device) (any, error) {
	t, err := s.store.RoomTaskByID(r.Context(), taskPurgeHistory, mux.Vars(r)["purgeId"])
	if errors.Is(err, storage.ErrNotFound) {
		return nil, mxhttp.NotFound("purge id not found")
	}
	if err != nil {
		return nil, err
	}
	t = shownTask(t)
	out := map[string]string{"status": t.Status}
	if t.Error != "" {
		out["error"] = t.Error
	}
	return out, nil
}
