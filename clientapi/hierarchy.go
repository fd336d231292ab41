package clientapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// Space hierarchy (GET /rooms/{roomId}/hierarchy): a depth-first walk over
// m.space.child events in the spec's order, showing the rooms the
// requester may see. A room a local user is in is described from our
// copy, by the roomserver, which also decides whether the requester may
// see it. A room no local user is in is asked of other servers through
// federation (its parent's via list; for the space itself, the client's
// via parameter, which the spec does not have, and the server in its id);
// their answer, made for our whole server, is narrowed down here for the
// requester. Pagination walks the tree again and skips what earlier pages
// showed: the token carries the offset and the walk's parameters, which
// must not change between pages.

const (
	defaultHierarchyLimit = 50
	maxHierarchyLimit     = 200
	defaultHierarchyDepth = 5
	maxHierarchyDepth     = 10
	// maxHierarchyRooms bounds the rooms one request visits, and
	// maxHierarchyFetches the other servers' answers it waits for.
	maxHierarchyRooms   = 2000
	maxHierarchyFetches = 20
)

// spaceHierarchy is GET /_matrix/client/v1/rooms/{roomId}/hierarchy.
func (s *Server) spaceHierarchy(r *http.Request, dev *userapi.Device) (any, error) {
	q := r.URL.Query()
	w := &hierarchyWalk{s: s, ctx: r.Context(), user: dev.UserID, limit: defaultHierarchyLimit, depth: defaultHierarchyDepth,
		known: map[string]json.RawMessage{}, asked: map[string]bool{}, unreachable: map[string]bool{}}
	switch q.Get("suggested_only") {
	case "", "false":
	case "true":
		w.suggestedOnly = true
	default:
		return nil, mxhttp.InvalidParam("suggested_only must be true or false")
	}
	for name, dst := range map[string]*int{"limit": &w.limit, "max_depth": &w.depth} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (name == "limit" && n == 0) {
			return nil, mxhttp.InvalidParam(name + " must be a positive integer")
		}
		*dst = n
	}
	w.limit, w.depth = min(w.limit, maxHierarchyLimit), min(w.depth, maxHierarchyDepth)
	offset := 0
	if from := q.Get("from"); from != "" {
		var err error
		if offset, err = parseHierarchyToken(from, w.suggestedOnly, w.depth); err != nil {
			return nil, mxhttp.InvalidParam(err.Error())
		}
	}
	roomID := mux.Vars(r)["roomId"]
	var via []spec.ServerName
	for _, v := range q["via"] {
		via = append(via, spec.ServerName(v))
	}
	if _, server, ok := strings.Cut(roomID, ":"); ok {
		via = append(via, spec.ServerName(server))
	}
	rooms, next, err := w.walk(roomID, via, offset)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"rooms": rooms}
	if next != "" {
		out["next_batch"] = next
	}
	return out, nil
}

// hierarchyWalk is one request's walk.
type hierarchyWalk struct {
	s             *Server
	ctx           context.Context
	user          spec.UserID
	suggestedOnly bool
	limit, depth  int

	// What other servers told of rooms no local user is in: chunks (a
	// room's own answer, or its entry among its parent's children), the
	// rooms whose own answer was asked for, and the rooms they called
	// inaccessible.
	known       map[string]json.RawMessage
	asked       map[string]bool
	unreachable map[string]bool
	fetches     int
	// joined are the requester's joined rooms, for restricted rooms of
	// other servers; loaded when first needed.
	joined map[string]bool
}

type hierarchyStep struct {
	roomID string
	via    []spec.ServerName
	depth  int
}

// walk returns one page of the tree from offset and the next page's token.
func (w *hierarchyWalk) walk(rootID string, via []spec.ServerName, offset int) ([]json.RawMessage, string, error) {
	rooms := []json.RawMessage{}
	seen := map[string]bool{}
	shown := 0
	stack := []hierarchyStep{{rootID, via, 0}}
	for len(stack) > 0 && len(seen) < maxHierarchyRooms {
		st := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[st.roomID] {
			continue
		}
		seen[st.roomID] = true
		chunk, err := w.room(st.roomID, st.via, st.depth < w.depth)
		if err != nil {
			return nil, "", err
		}
		if chunk == nil {
			if st.depth == 0 {
				return nil, "", mxhttp.Forbidden("You cannot see this room")
			}
			continue
		}
		if shown >= offset {
			if len(rooms) == w.limit {
				return rooms, hierarchyToken(shown, w.suggestedOnly, w.depth), nil
			}
			rooms = append(rooms, chunk)
		}
		shown++
		if st.depth >= w.depth {
			continue
		}
		children := spaceChildren(chunk, w.suggestedOnly)
		// Pushed in reverse, so the first child is walked first.
		for i := len(children) - 1; i >= 0; i-- {
			if !seen[children[i].roomID] {
				stack = append(stack, hierarchyStep{children[i].roomID, children[i].via, st.depth + 1})
			}
		}
	}
	return rooms, "", nil
}

// room is the room's chunk as the requester may see it, nil when hidden or
// unknown; descend tells that its children will be walked.
func (w *hierarchyWalk) room(roomID string, via []spec.ServerName, descend bool) (json.RawMessage, error) {
	if w.s.needsRemoteJoin(w.ctx, roomID) {
		if chunk := w.remote(roomID, via, descend); chunk != nil {
			return chunk, nil
		}
		// What we still know of a room we left, if anything.
	}
	res, err := w.s.rooms.SpaceHierarchy(w.ctx, roomserver.HierarchyRequest{
		Requester: w.user, RoomID: roomID, SuggestedOnly: w.suggestedOnly, MaxDepth: -1, Limit: 1})
	switch {
	case errors.Is(err, roomserver.ErrForbidden), errors.Is(err, roomserver.ErrRoomNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case len(res.Rooms) == 0:
		return nil, nil
	}
	return res.Rooms[0], nil
}

// remote is the room's chunk from other servers, if the requester may see
// it. A room's own answer is asked for when none of its parent's answers
// described it, or when its children are to be walked.
func (w *hierarchyWalk) remote(roomID string, via []spec.ServerName, descend bool) json.RawMessage {
	if w.unreachable[roomID] {
		return nil
	}
	via = slices.DeleteFunc(slices.Clone(via), w.s.isLocalServer)
	chunk, have := w.known[roomID]
	needOwn := !have || (descend && hasChildren(chunk))
	if needOwn && !w.asked[roomID] && len(via) > 0 && w.fetches < maxHierarchyFetches {
		w.asked[roomID] = true
		w.fetches++
		res, err := w.s.fed.RemoteHierarchy(w.ctx, federationapi.RemoteHierarchyRequest{
			Requester: w.user, RoomID: roomID, Servers: via, SuggestedOnly: w.suggestedOnly})
		if err != nil {
			slog.Debug("hierarchy: no other server described the room", "room_id", roomID, "err", err)
		} else {
			chunk, have = res.Room, true
			w.known[roomID] = res.Room
			for _, c := range res.Children {
				if id := gjson.GetBytes(c, "room_id").String(); !w.asked[id] {
					w.known[id] = c
				}
			}
			for _, id := range res.InaccessibleChildren {
				w.unreachable[id] = true
			}
		}
	}
	if !have || !w.maySee(roomID, chunk) {
		return nil
	}
	if !gjson.GetBytes(chunk, "children_state").IsArray() || gjson.GetBytes(chunk, "room_type").String() != "m.space" {
		chunk, _ = sjson.SetRawBytes(chunk, "children_state", []byte("[]"))
	}
	return chunk
}

// hasChildren tells whether a chunk has children to walk, or may have
// (an entry among its parent's children need not list them).
func hasChildren(chunk json.RawMessage) bool {
	if gjson.GetBytes(chunk, "room_type").String() != "m.space" {
		return false
	}
	cs := gjson.GetBytes(chunk, "children_state")
	return !cs.Exists() || len(cs.Array()) > 0
}

// maySee is the spec's list for a room another server described: the
// requester is in it or invited, or it is world-readable, or anyone may
// join or knock, or it is restricted to a room the requester is in.
func (w *hierarchyWalk) maySee(roomID string, chunk json.RawMessage) bool {
	switch m, _ := w.s.rooms.Membership(w.ctx, roomID, w.user); m {
	case spec.Join, spec.Invite:
		return true
	case spec.Ban:
		return false
	}
	if gjson.GetBytes(chunk, "world_readable").Bool() {
		return true
	}
	switch gjson.GetBytes(chunk, "join_rule").String() {
	case "public", "knock", "knock_restricted":
		return true
	case "restricted":
		if w.joined == nil {
			w.joined = map[string]bool{}
			ids, err := w.s.rooms.JoinedRooms(w.ctx, w.user)
			if err != nil {
				return false
			}
			for _, id := range ids {
				w.joined[id] = true
			}
		}
		for _, id := range gjson.GetBytes(chunk, "allowed_room_ids").Array() {
			if w.joined[id.String()] {
				return true
			}
		}
	}
	return false
}

type spaceChild struct {
	roomID string
	via    []spec.ServerName
	order  string
	ts     int64
}

// spaceChildren reads a chunk's children_state: the valid m.space.child
// events (a room id, a non-empty via list), suggested ones only if asked,
// in the spec's order: by order, then by timestamp, then by room id.
// Our own chunks come ordered already; other servers' need not. A room
// that is not a space (room_type other than m.space) has no children,
// whatever another server listed.
func spaceChildren(chunk json.RawMessage, suggestedOnly bool) []spaceChild {
	if gjson.GetBytes(chunk, "room_type").String() != "m.space" {
		return nil
	}
	var out []spaceChild
	for _, ev := range gjson.GetBytes(chunk, "children_state").Array() {
		id := ev.Get("state_key").String()
		if ev.Get("type").String() != "m.space.child" || !strings.HasPrefix(id, "!") {
			continue
		}
		if suggestedOnly && ev.Get("content.suggested").Type != gjson.True {
			continue
		}
		c := spaceChild{roomID: id, ts: ev.Get("origin_server_ts").Int()}
		for _, v := range ev.Get("content.via").Array() {
			if v.Type == gjson.String && v.Str != "" {
				c.via = append(c.via, spec.ServerName(v.Str))
			}
		}
		if len(c.via) == 0 {
			continue
		}
		if order := ev.Get("content.order"); order.Type == gjson.String && validSpaceOrder(order.Str) {
			c.order = order.Str
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b spaceChild) int {
		// Children with an order come before those without.
		if (a.order == "") != (b.order == "") {
			if a.order == "" {
				return 1
			}
			return -1
		}
		return cmp.Or(strings.Compare(a.order, b.order), cmp.Compare(a.ts, b.ts), strings.Compare(a.roomID, b.roomID))
	})
	return out
}

// validSpaceOrder is the spec's order: at most 50 printable ASCII
// characters.
func validSpaceOrder(s string) bool {
	if len(s) > 50 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func hierarchyToken(offset int, suggestedOnly bool, depth int) string {
	return fmt.Sprintf("h%d_%t_%d", offset, suggestedOnly, depth)
}

func parseHierarchyToken(tok string, suggestedOnly bool, depth int) (int, error) {
	parts := strings.Split(strings.TrimPrefix(tok, "h"), "_")
	if !strings.HasPrefix(tok, "h") || len(parts) != 3 {
		return 0, errors.New("invalid pagination token")
	}
	offset, err := strconv.Atoi(parts[0])
	if err != nil || offset < 0 {
		return 0, errors.New("invalid pagination token")
	}
	if parts[1] != strconv.FormatBool(suggestedOnly) || parts[2] != strconv.Itoa(depth) {
		return 0, errors.New("suggested_only and max_depth cannot change between pages")
	}
	return offset, nil
}
