package syncapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/tidwall/gjson"
)

// Peeking (MSC2753): a device may follow a world-readable room in /sync,
// under rooms.peek, without joining it. A peek belongs to the device that
// made it, not to the user's other devices. Only rooms this server knows
// can be peeked into; peeking over federation (MSC2444) is not supported.

// handlePeek is POST /peek/{roomIdOrAlias}.
func (s *Server) handlePeek(r *http.Request, dev *userapi.Device) (any, error) {
	if err := readPeekBody(r); err != nil {
		return nil, err
	}
	ctx := r.Context()
	roomID, err := s.resolveRoom(ctx, mux.Vars(r)["roomIdOrAlias"])
	if err != nil {
		return nil, err
	}
	if _, err := s.events.RoomByID(ctx, roomID); errors.Is(err, rsstorage.ErrNotFound) {
		return nil, mxhttp.NotFound("Room not found")
	} else if err != nil {
		return nil, err
	}
	if !s.worldReadable(ctx, roomID) {
		return nil, mxhttp.Forbidden("Only rooms with world_readable history visibility can be peeked into")
	}
	if _, err := s.store.SetPeek(ctx, dev.UserID.String(), dev.ID, roomID, true); err != nil {
		return nil, err
	}
	// A /sync of this device waiting on any sync server gets the room at once.
	s.publishWake(syncWake{Peek: true, UserID: dev.UserID.String()})
	return map[string]string{"room_id": roomID}, nil
}

// handleUnpeek is POST /rooms/{roomId}/unpeek: the room leaves the
// device's rooms.peek.
func (s *Server) handleUnpeek(r *http.Request, dev *userapi.Device) (any, error) {
	if err := readPeekBody(r); err != nil {
		return nil, err
	}
	roomID := mux.Vars(r)["roomId"]
	if _, err := spec.NewRoomID(roomID); err != nil {
		return nil, mxhttp.InvalidParam("invalid room id")
	}
	if _, err := s.store.SetPeek(r.Context(), dev.UserID.String(), dev.ID, roomID, false); err != nil {
		return nil, err
	}
	s.publishWake(syncWake{Peek: true, UserID: dev.UserID.String()})
	return struct{}{}, nil
}

// readPeekBody accepts an empty body or a JSON object; MSC2753 defines no
// fields the server needs.
func readPeekBody(r *http.Request) error {
	body, err := mxhttp.ReadBody(r, mxhttp.DefaultMaxBody)
	if err != nil || len(strings.TrimSpace(string(body))) == 0 {
		return err
	}
	var v map[string]any
	return mxhttp.Unmarshal(body, &v)
}

// resolveRoom turns a room id or alias into a room id.
func (s *Server) resolveRoom(ctx context.Context, idOrAlias string) (string, error) {
	switch {
	case strings.HasPrefix(idOrAlias, "!"):
		if _, err := spec.NewRoomID(idOrAlias); err != nil {
			return "", mxhttp.InvalidParam("invalid room id")
		}
		return idOrAlias, nil
	case strings.HasPrefix(idOrAlias, "#") && strings.Contains(idOrAlias, ":"):
		id, err := s.rooms.ResolveAlias(ctx, idOrAlias)
		if errors.Is(err, roomserver.ErrAliasNotFound) {
			return "", mxhttp.NotFound("Room alias not found")
		}
		return id, err
	}
	return "", mxhttp.InvalidParam("not a room id or alias")
}

// worldReadable tells whether the room's current history visibility lets
// anyone read it.
func (s *Server) worldReadable(ctx context.Context, roomID string) bool {
	ev, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomHistoryVisibility, "")
	return err == nil && gjson.GetBytes(ev.Content, "history_visibility").String() == "world_readable"
}

// activePeeks are the rooms of the peeks still in effect.
func activePeeks(peeks []storage.Peek) []string {
	var out []string
	for _, p := range peeks {
		if p.Active {
			out = append(out, p.RoomID)
		}
	}
	return out
}

// addPeekedRooms fills rooms.peek: each room the device peeks into, in the
// shape of a joined room. A room the user has joined since is shown under
// join only; one that is no longer world-readable shows what its history
// visibility still lets a non-member see.
func (s *Server) addPeekedRooms(ctx context.Context, req *syncRequest, memberships []rsstorage.UserMembership, since, to Token, resp *syncResponse) error {
	if len(req.peeks) == 0 {
		return nil
	}
	joined := map[string]bool{}
	for _, m := range memberships {
		if m.Membership == spec.Join && m.StreamPos <= to.PDU {
			joined[m.RoomID] = true
		}
	}
	for _, p := range req.peeks {
		if !p.Active || p.StreamPos > to.Peek || joined[p.RoomID] || !req.filter.Room.AllowsRoom(p.RoomID) {
			continue
		}
		room, err := s.events.RoomByID(ctx, p.RoomID)
		if errors.Is(err, rsstorage.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		fresh := req.since != nil && p.StreamPos > since.Peek
		pr, err := s.roomSection(ctx, req, room.NID, p.RoomID, since, to, nil, fresh, false)
		if err != nil {
			return err
		}
		if pr != nil {
			resp.Rooms.Peek[p.RoomID] = pr
		}
	}
	return nil
}
