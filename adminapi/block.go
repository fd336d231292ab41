package adminapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Room blocking (Synapse's /v1/rooms/{roomId}/block): local users
// cannot join a blocked room (the client API asks RoomBlocked). Rooms
// the server does not know can be blocked too.

func blockRoomID(r *http.Request) (string, error) {
	roomID := mux.Vars(r)["roomId"]
	if !strings.HasPrefix(roomID, "!") || !strings.Contains(roomID, ":") {
		return "", mxhttp.InvalidParam(roomID + " is not a legal room ID")
	}
	return roomID, nil
}

// putRoomBlock is PUT /v1/rooms/{roomId}/block {"block": bool}.
func (s *Server) putRoomBlock(r *http.Request, admin *userapi.Device) (any, error) {
	roomID, err := blockRoomID(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		Block *bool `json:"block"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if body.Block == nil {
		return nil, mxhttp.MissingParam("Missing block: a boolean")
	}
	noteAudit(r, "block", *body.Block)
	if err := s.store.BlockRoom(r.Context(), roomID, admin.UserID.String(), time.Now().UnixMilli(), *body.Block); err != nil {
		return nil, err
	}
	return map[string]bool{"block": *body.Block}, nil
}

// getRoomBlock is GET /v1/rooms/{roomId}/block: block, and user_id, the
// admin who blocked it, when it is blocked.
func (s *Server) getRoomBlock(r *http.Request, _ *userapi.Device) (any, error) {
	roomID, err := blockRoomID(r)
	if err != nil {
		return nil, err
	}
	by, blocked, err := s.store.RoomBlock(r.Context(), roomID)
	if err != nil {
		return nil, err
	}
	if !blocked {
		return map[string]any{"block": false}, nil
	}
	return map[string]any{"block": true, "user_id": by}, nil
}

// RoomBlocked tells whether an admin blocked the room; the client API
// refuses local users' joins of blocked rooms.
func (s *Server) RoomBlocked(ctx context.Context, roomID string) (bool, error) {
	if s.store == nil {
		return false, nil
	}
	_, blocked, err := s.store.RoomBlock(ctx, roomID)
	return blocked, err
}
