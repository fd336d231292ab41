package roomserver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// Space hierarchy (GET /rooms/{roomId}/hierarchy): a depth-first walk
// over the m.space.child events of the rooms this server knows, showing
// the rooms the requester may see. Rooms only other servers know are left
// out until federation can fill them in. Pagination walks the tree again
// and skips what earlier pages showed: the token carries the offset and
// the walk's parameters, which must not change between pages.

const (
	defaultHierarchyLimit = 50
	maxHierarchyLimit     = 200
	defaultHierarchyDepth = 5
	maxHierarchyDepth     = 10
	// maxHierarchyRooms bounds the rooms one request visits.
	maxHierarchyRooms = 2000
)

// HierarchyRequest is one page of a space's tree.
type HierarchyRequest struct {
	Requester     spec.UserID
	RoomID        string
	SuggestedOnly bool
	// MaxDepth and Limit of 0 take the defaults.
	MaxDepth, Limit int
	From            string
}

// HierarchyResponse holds the page's rooms in the spec's
// SpaceHierarchyRoomsChunk form.
type HierarchyResponse struct {
	Rooms     []json.RawMessage
	NextBatch string
}

// Errors of the hierarchy the client can fix.
var ErrBadPagination = errors.New("invalid pagination token")

func (s *Server) SpaceHierarchy(ctx context.Context, req HierarchyRequest) (*HierarchyResponse, error) {
	limit := cmp.Or(req.Limit, defaultHierarchyLimit)
	limit = min(limit, maxHierarchyLimit)
	depth := min(cmp.Or(req.MaxDepth, defaultHierarchyDepth), maxHierarchyDepth)
	if req.MaxDepth < 0 {
		depth = 0
	}
	offset := 0
	if req.From != "" {
		var err error
		if offset, err = parseHierarchyToken(req.From, req.SuggestedOnly, depth); err != nil {
			return nil, err
		}
	}
	root, err := s.room(ctx, req.RoomID)
	if err != nil {
		return nil, err
	}
	if !s.maySeeInHierarchy(ctx, root, req.Requester.String()) {
		return nil, fmt.Errorf("%w: you cannot see this room", ErrForbidden)
	}
	res := &HierarchyResponse{}
	seen := map[string]bool{}
	shown := 0
	type step struct {
		r     *room
		depth int
	}
	stack := []step{{root, 0}}
	for len(stack) > 0 && len(seen) < maxHierarchyRooms {
		st := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[st.r.id] {
			continue
		}
		seen[st.r.id] = true
		children := spaceChildren(st.r, req.SuggestedOnly)
		if shown >= offset {
			if len(res.Rooms) == limit {
				res.NextBatch = hierarchyToken(shown, req.SuggestedOnly, depth)
				return res, nil
			}
			chunk, err := hierarchyChunk(st.r, children)
			if err != nil {
				return nil, err
			}
			res.Rooms = append(res.Rooms, chunk)
		}
		shown++
		if st.depth >= depth {
			continue
		}
		// Pushed in reverse, so the first child is walked first.
		for i := len(children) - 1; i >= 0; i-- {
			childID := children[i].stateKey
			if seen[childID] {
				continue
			}
			child, err := s.room(ctx, childID)
			if errors.Is(err, ErrRoomNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if s.maySeeInHierarchy(ctx, child, req.Requester.String()) {
				stack = append(stack, step{child, st.depth + 1})
			}
		}
	}
	return res, nil
}

// maySeeInHierarchy is the spec's list: a member or invitee, a room one
// may join or knock on, or a world-readable one.
func (s *Server) maySeeInHierarchy(ctx context.Context, r *room, user string) bool {
	switch r.membership(user) {
	case spec.Join, spec.Invite:
		return true
	case spec.Ban:
		return false
	}
	content := func(evType, path string) gjson.Result {
		if ev := r.get(evType, ""); ev != nil {
			return gjson.GetBytes(ev.pdu.Content(), path)
		}
		return gjson.Result{}
	}
	if content(spec.MRoomHistoryVisibility, "history_visibility").String() == "world_readable" {
		return true
	}
	switch rule := content(spec.MRoomJoinRules, "join_rule"); rule.String() {
	case "public", "knock", "knock_restricted":
		return true
	case "restricted":
		for _, allow := range content(spec.MRoomJoinRules, "allow").Array() {
			if allow.Get("type").String() != "m.room_membership" {
				continue
			}
			if other, err := s.room(ctx, allow.Get("room_id").String()); err == nil && other.membership(user) == spec.Join {
				return true
			}
		}
	}
	return false
}

type spaceChild struct {
	stateKey string
	order    string
	ts       int64
	stripped json.RawMessage
}

// spaceChildren are the room's valid m.space.child events (a non-empty
// via list), in the spec's order: by order, then by timestamp, then by
// room id. Only a space (a create event of type m.space) has children:
// the spec's children_state "should be empty" for other rooms, so their
// m.space.child events are neither shown nor walked.
func spaceChildren(r *room, suggestedOnly bool) []spaceChild {
	if !isSpace(r) {
		return nil
	}
	var out []spaceChild
	for k, ev := range r.state {
		if k.EventType != "m.space.child" || !strings.HasPrefix(k.StateKey, "!") {
			continue
		}
		c := ev.pdu.Content()
		if via := gjson.GetBytes(c, "via"); !via.IsArray() || len(via.Array()) == 0 {
			continue
		}
		if suggestedOnly && gjson.GetBytes(c, "suggested").Type != gjson.True {
			continue
		}
		order := gjson.GetBytes(c, "order")
		ch := spaceChild{stateKey: k.StateKey, ts: int64(ev.pdu.OriginServerTS())}
		if order.Type == gjson.String && validSpaceOrder(order.Str) {
			ch.order = order.Str
		}
		ch.stripped, _ = json.Marshal(map[string]any{"type": k.EventType, "state_key": k.StateKey, "content": json.RawMessage(c),
			"sender": string(ev.pdu.SenderID()), "origin_server_ts": ch.ts})
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, b spaceChild) int {
		// Children with an order come before those without.
		if (a.order == "") != (b.order == "") {
			if a.order == "" {
				return 1
			}
			return -1
		}
		return cmp.Or(strings.Compare(a.order, b.order), cmp.Compare(a.ts, b.ts), strings.Compare(a.stateKey, b.stateKey))
	})
	return out
}

// isSpace tells whether the room's create event has type m.space.
func isSpace(r *room) bool {
	ev := r.get(spec.MRoomCreate, "")
	return ev != nil && gjson.GetBytes(ev.pdu.Content(), "type").String() == "m.space"
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

func hierarchyChunk(r *room, children []spaceChild) (json.RawMessage, error) {
	type chunk struct {
		PublicRoom
		RoomVersion    string            `json:"room_version"`
		Encryption     string            `json:"encryption,omitempty"`
		AllowedRoomIDs []string          `json:"allowed_room_ids,omitempty"`
		ChildrenState  []json.RawMessage `json:"children_state"`
	}
	c := chunk{PublicRoom: summarise(r), RoomVersion: string(r.version.Version()), ChildrenState: []json.RawMessage{}}
	if ev := r.get("m.room.encryption", ""); ev != nil {
		c.Encryption = gjson.GetBytes(ev.pdu.Content(), "algorithm").String()
	}
	if ev := r.get(spec.MRoomJoinRules, ""); ev != nil {
		for _, allow := range gjson.GetBytes(ev.pdu.Content(), "allow").Array() {
			if id := allow.Get("room_id").String(); allow.Get("type").String() == "m.room_membership" && id != "" {
				c.AllowedRoomIDs = append(c.AllowedRoomIDs, id)
			}
		}
	}
	for _, ch := range children {
		c.ChildrenState = append(c.ChildrenState, ch.stripped)
	}
	return json.Marshal(c)
}

func hierarchyToken(offset int, suggestedOnly bool, depth int) string {
	return fmt.Sprintf("h%d_%t_%d", offset, suggestedOnly, depth)
}

func parseHierarchyToken(tok string, suggestedOnly bool, depth int) (int, error) {
	parts := strings.Split(strings.TrimPrefix(tok, "h"), "_")
	if !strings.HasPrefix(tok, "h") || len(parts) != 3 {
		return 0, ErrBadPagination
	}
	offset, err := strconv.Atoi(parts[0])
	if err != nil || offset < 0 {
		return 0, ErrBadPagination
	}
	if parts[1] != strconv.FormatBool(suggestedOnly) || parts[2] != strconv.Itoa(depth) {
		return 0, fmt.Errorf("%w: suggested_only and max_depth cannot change between pages", ErrBadPagination)
	}
	return offset, nil
}
