package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// roomOrders are the sort keys of GET /v1/rooms.
var roomOrders = []string{"name", "canonical_alias", "joined_members", "joined_local_members", "version", "creator",
	"encryption", "federatable", "public", "join_rules", "guest_access", "history_visibility", "state_events"}

// roomJSON is a room as GET /v1/rooms lists it.
func roomJSON(r rsstorage.AdminRoom) map[string]any {
	str := func(typ, key string) any {
		var c map[string]any
		if json.Unmarshal(r.State[typ], &c) != nil {
			return nil
		}
		if v, ok := c[key].(string); ok {
			return v
		}
		return nil
	}
	federatable := true
	var create map[string]any
	if json.Unmarshal(r.State["m.room.create"], &create) == nil {
		if f, ok := create["m.federate"].(bool); ok {
			federatable = f
		}
	}
	return map[string]any{
		"room_id": r.RoomID, "name": str("m.room.name", "name"), "canonical_alias": str("m.room.canonical_alias", "alias"),
		"joined_members": r.JoinedMembers, "joined_local_members": r.JoinedLocalMembers, "version": r.Version,
		"creator": nullable(r.Creator), "encryption": str("m.room.encryption", "algorithm"), "federatable": federatable,
		"public": r.Visibility == "public", "join_rules": str("m.room.join_rules", "join_rule"),
		"guest_access":       str("m.room.guest_access", "guest_access"),
		"history_visibility": str("m.room.history_visibility", "history_visibility"),
		"state_events":       r.StateEvents, "room_type": str("m.room.create", "type"),
	}
}

func (s *Server) localSuffix() string { return ":" + string(s.cfg.ServerName) }

// listRooms is GET /v1/rooms: all rooms, filtered by search_term (name,
// canonical alias or room id), sorted and paged. Synapse's paging keys
// here are offset, total_rooms, next_batch and prev_batch.
func (s *Server) listRooms(r *http.Request, _ *userapi.Device) (any, error) {
	p, err := parsePaging(r, 100, roomOrders...)
	if err != nil {
		return nil, err
	}
	rooms, err := s.roomStore.AdminRooms(r.Context(), s.localSuffix(), "")
	if err != nil {
		return nil, err
	}
	term := strings.ToLower(r.URL.Query().Get("search_term"))
	list := make([]map[string]any, 0, len(rooms))
	for _, room := range rooms {
		j := roomJSON(room)
		if term != "" {
			name, _ := j["name"].(string)
			alias, _ := j["canonical_alias"].(string)
			if !strings.Contains(strings.ToLower(name), term) && !strings.Contains(strings.ToLower(alias), term) &&
				!strings.Contains(strings.ToLower(room.RoomID), term) {
				continue
			}
		}
		list = append(list, j)
	}
	// Synapse lists the counts largest first for dir=f.
	descending := p.OrderBy == "joined_members" || p.OrderBy == "joined_local_members" || p.OrderBy == "state_events"
	if !p.Forward {
		descending = !descending
	}
	sort.SliceStable(list, func(i, k int) bool {
		c := compare(list[i][p.OrderBy], list[k][p.OrderBy])
		if c == 0 {
			c = strings.Compare(list[i]["room_id"].(string), list[k]["room_id"].(string))
		}
		if descending {
			return c > 0
		}
		return c < 0
	})
	total := len(list)
	start := min(p.From, total)
	end := min(start+p.Limit, total)
	out := map[string]any{"rooms": list[start:end], "offset": p.From, "total_rooms": total}
	if end < total {
		out["next_batch"] = end
	}
	if p.From > 0 {
		out["prev_batch"] = max(p.From-p.Limit, 0)
	}
	return out, nil
}

// compare orders values of one column: nulls first, then ints,
// booleans (false first) or strings (case-insensitive).
func compare(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case int:
		y, _ := b.(int)
		return x - y
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case string:
		y, _ := b.(string)
		return strings.Compare(strings.ToLower(x), strings.ToLower(y))
	}
	return 0
}

// roomByPath is the path's room in the room list's form; 404 for rooms
// the server does not know.
func (s *Server) roomByPath(r *http.Request) (rsstorage.AdminRoom, error) {
	roomID := mux.Vars(r)["roomId"]
	if !strings.HasPrefix(roomID, "!") {
		return rsstorage.AdminRoom{}, mxhttp.InvalidParam("Not a room ID: " + roomID)
	}
	rooms, err := s.roomStore.AdminRooms(r.Context(), s.localSuffix(), roomID)
	if err != nil {
		return rsstorage.AdminRoom{}, err
	}
	if len(rooms) == 0 {
		return rsstorage.AdminRoom{}, mxhttp.NotFound("Room not found")
	}
	return rooms[0], nil
}

// getRoom is GET /v1/rooms/{roomId}: the list's fields with topic and
// avatar.
func (s *Server) getRoom(r *http.Request, _ *userapi.Device) (any, error) {
	room, err := s.roomByPath(r)
	if err != nil {
		return nil, err
	}
	out := roomJSON(room)
	for _, f := range [][3]string{{"topic", "m.room.topic", "topic"}, {"avatar", "m.room.avatar", "url"}} {
		var c map[string]any
		out[f[0]] = nil
		if json.Unmarshal(room.State[f[1]], &c) == nil {
			if v, ok := c[f[2]].(string); ok {
				out[f[0]] = v
			}
		}
	}
	out["forgotten"] = false
	return out, nil
}

// roomMembers is GET /v1/rooms/{roomId}/members: the joined members.
func (s *Server) roomMembers(r *http.Request, _ *userapi.Device) (any, error) {
	room, err := s.roomByPath(r)
	if err != nil {
		return nil, err
	}
	members, err := s.rooms.JoinedMembers(r.Context(), room.RoomID)
	if err != nil {
		return nil, roomError(err)
	}
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return map[string]any{"members": ids, "total": len(ids)}, nil
}

// roomState is GET /v1/rooms/{roomId}/state.
func (s *Server) roomState(r *http.Request, _ *userapi.Device) (any, error) {
	room, err := s.roomByPath(r)
	if err != nil {
		return nil, err
	}
	state, err := s.rooms.CurrentState(r.Context(), room.RoomID)
	if err != nil {
		return nil, roomError(err)
	}
	if state == nil {
		state = []json.RawMessage{}
	}
	return map[string]any{"state": state}, nil
}

func roomError(err error) error {
	if errors.Is(err, roomserver.ErrRoomNotFound) {
		return mxhttp.NotFound("Room not found")
	}
	return err
}
