package syncapi

import (
	"encoding/json"
	"math"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/rohrpost/rohrpost/userapi"
)

// roomInitialSyncLimit is how many recent messages the snapshot has.
const roomInitialSyncLimit = 20

// handleRoomInitialSync is GET /rooms/{roomId}/initialSync: a snapshot of
// a room's state and newest messages, which clients use to peek into
// world-readable rooms. Members get the current state, former members the
// state and messages up to when they left; the same window /messages
// gives (access.go).
func (s *Server) handleRoomInitialSync(r *http.Request, dev *userapi.Device) (any, error) {
	ctx := r.Context()
	a, err := s.access(ctx, dev, mux.Vars(r)["roomId"])
	if err != nil {
		return nil, err
	}
	user := dev.UserID.String()
	evs, err := s.events.RoomEvents(ctx, a.roomNID, a.from, a.upto, roomInitialSyncLimit, true)
	if err != nil {
		return nil, err
	}
	visible := a.view.filter(evs, user)
	chunk := make([]json.RawMessage, 0, len(visible))
	for i := len(visible) - 1; i >= 0; i-- { // oldest first
		chunk = append(chunk, s.render(ctx, dev, visible[i]))
	}
	start := Token{PDU: a.upto}
	if len(evs) > 0 {
		start = Token{PDU: evs[len(evs)-1].StreamPos - 1}
	}
	state, err := s.stateAtPosition(r, a.roomNID, a.upto)
	if err != nil {
		return nil, err
	}
	stateJSON := make([]json.RawMessage, 0, len(state))
	for _, e := range state {
		stateJSON = append(stateJSON, e.Client)
	}
	accountData := []json.RawMessage{}
	all, err := s.accountData.AccountDataSince(ctx, user, 0, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	for _, d := range all {
		if d.RoomID == a.roomID {
			ev, _ := json.Marshal(map[string]any{"type": d.Type, "content": json.RawMessage(d.Content)})
			accountData = append(accountData, ev)
		}
	}
	visibility, err := s.rooms.Visibility(ctx, a.roomID)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"room_id":      a.roomID,
		"messages":     map[string]any{"chunk": chunk, "start": start.String(), "end": Token{PDU: a.upto}.String()},
		"state":        stateJSON,
		"visibility":   visibility,
		"account_data": accountData,
		"presence":     []any{},
	}
	if a.membership != "" {
		out["membership"] = a.membership
	}
	return out, nil
}
