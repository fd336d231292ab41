package clientapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// stateKey names one piece of room state: event type and state key.
type stateKey = [2]string

// getState is GET /rooms/{roomId}/state/{eventType}[/{stateKey}].
func (s *Server) getState(r *http.Request, dev *userapi.Device) (any, error) {
	v := mux.Vars(r)
	left, err := s.readableState(r.Context(), dev, v["roomId"])
	if err != nil {
		return nil, err
	}
	var client, content json.RawMessage
	if left == nil {
		ev, err := s.rooms.StateEvent(r.Context(), v["roomId"], v["eventType"], v["stateKey"])
		if err != nil {
			return nil, roomError(err)
		}
		client, content = ev.Client, ev.Content
	} else {
		nid, ok := left[stateKey{v["eventType"], v["stateKey"]}]
		if !ok {
			return nil, mxhttp.NotFound("Event not found")
		}
		evs, err := s.roomStore.EventsByNID(r.Context(), []int64{nid})
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			return nil, mxhttp.NotFound("Event not found")
		}
		client = evs[0].Client
		content = json.RawMessage(gjson.GetBytes(client, "content").Raw)
	}
	if r.URL.Query().Get("format") == "event" {
		return client, nil
	}
	return content, nil
}

// getAllState is GET /rooms/{roomId}/state.
func (s *Server) getAllState(r *http.Request, dev *userapi.Device) (any, error) {
	roomID := mux.Vars(r)["roomId"]
	left, err := s.readableState(r.Context(), dev, roomID)
	if err != nil {
		return nil, err
	}
	if left == nil {
		evs, err := s.rooms.CurrentState(r.Context(), roomID)
		if err != nil {
			return nil, roomError(err)
		}
		return evs, nil
	}
	nids := make([]int64, 0, len(left))
	for _, nid := range left {
		nids = append(nids, nid)
	}
	evs, err := s.roomStore.EventsByNID(r.Context(), nids)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, len(evs))
	for i, e := range evs {
		out[i] = e.Client
	}
	return out, nil
}

// canReadState allows current members, and anyone in world-readable rooms.
func (s *Server) canReadState(r *http.Request, dev *userapi.Device, roomID string) error {
	if err := validRoomID(roomID); err != nil {
		return err
	}
	m, err := s.rooms.Membership(r.Context(), roomID, dev.UserID)
	if err != nil {
		return roomError(err)
	}
	if m == spec.Join || s.worldReadable(r.Context(), roomID) {
		return nil
	}
	return mxhttp.Forbidden("You are not joined to this room")
}

func (s *Server) worldReadable(ctx context.Context, roomID string) bool {
	ev, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomHistoryVisibility, "")
	return err == nil && gjson.GetBytes(ev.Content, "history_visibility").String() == "world_readable"
}

// readableState decides which state of a room the user may read. Members
// and anyone in a world-readable room read the current state (nil). A
// user who was joined and then left or was banned reads the state as it
// was right after that (the spec's rule for GET /state), unless they
// forgot the room.
func (s *Server) readableState(ctx context.Context, dev *userapi.Device, roomID string) (map[stateKey]int64, error) {
	if err := validRoomID(roomID); err != nil {
		return nil, err
	}
	m, err := s.rooms.Membership(ctx, roomID, dev.UserID)
	if err != nil {
		return nil, roomError(err)
	}
	if m == spec.Join || s.worldReadable(ctx, roomID) {
		return nil, nil
	}
	if (m == spec.Leave || m == spec.Ban) && s.roomStore != nil {
		state, err := s.stateWhenLeft(ctx, roomID, dev.UserID)
		if err != nil || state != nil {
			return state, err
		}
	}
	return nil, mxhttp.Forbidden("You are not joined to this room")
}

// stateWhenLeft is the room state right after the user's current leave or
// ban, or nil if there is none or the user was not joined before it.
func (s *Server) stateWhenLeft(ctx context.Context, roomID string, user spec.UserID) (map[stateKey]int64, error) {
	ms, err := s.roomStore.MembershipsOfUser(ctx, user.String())
	if err != nil {
		return nil, err
	}
	var leave *rsstorage.Event
	for _, m := range ms {
		if m.RoomID != roomID || m.Forgotten || (m.Membership != spec.Leave && m.Membership != spec.Ban) {
			continue
		}
		evs, err := s.roomStore.EventsByNID(ctx, []int64{m.EventNID})
		if err != nil {
			return nil, err
		}
		if len(evs) == 1 {
			leave = evs[0]
		}
	}
	if leave == nil || leave.StateKey == nil {
		return nil, nil
	}
	state, err := s.roomStore.StateAt(ctx, leave.SnapshotBefore)
	if err != nil {
		return nil, err
	}
	key := stateKey{spec.MRoomMember, user.String()}
	prev, ok := state[key]
	if !ok {
		return nil, nil
	}
	evs, err := s.roomStore.EventsByNID(ctx, []int64{prev})
	if err != nil {
		return nil, err
	}
	if len(evs) != 1 || evs[0].Membership != spec.Join {
		return nil, nil
	}
	state[key] = leave.NID
	return state, nil
}
