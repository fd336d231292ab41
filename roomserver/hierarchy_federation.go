package roomserver

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// The federation /hierarchy: a space and its direct children as another
// server may see them, which it then narrows down for its user. Unlike
// the client walk (hierarchy.go) it neither recurses nor pages.

// ServerHierarchyRequest is a server asking about a room of a space tree.
type ServerHierarchyRequest struct {
	Server        spec.ServerName
	RoomID        string
	SuggestedOnly bool
}

// ServerHierarchyResponse holds the room's chunk (SpaceHierarchyParentRoom)
// and its children that we know.
type ServerHierarchyResponse struct {
	Room     json.RawMessage
	Children []HierarchyChild
}

// HierarchyChild is a child room we know: its chunk when the asking
// server may see it, else only its id (inaccessible_children).
type HierarchyChild struct {
	RoomID string
	Chunk  json.RawMessage
}

// ServerHierarchy answers the federation /hierarchy of a room for a
// server. A room we do not know, or one the server could neither join
// nor peek into, is ErrRoomNotFound (the spec's 404 for both).
func (s *Server) ServerHierarchy(ctx context.Context, req ServerHierarchyRequest) (*ServerHierarchyResponse, error) {
	r, err := s.room(ctx, req.RoomID)
	if err != nil {
		return nil, err
	}
	if r.get(spec.MRoomCreate, "") == nil || !s.serverMaySeeInHierarchy(ctx, r, req.Server) {
		return nil, fmt.Errorf("%w: %s cannot see this room", ErrRoomNotFound, req.Server)
	}
	children := spaceChildren(r, req.SuggestedOnly)
	out := &ServerHierarchyResponse{}
	if out.Room, err = hierarchyChunk(r, children); err != nil {
		return nil, err
	}
	for _, c := range children {
		child, err := s.room(ctx, c.stateKey)
		if err != nil || child.get(spec.MRoomCreate, "") == nil {
			// Rooms we cannot describe are left out, as the spec asks.
			continue
		}
		hc := HierarchyChild{RoomID: child.id}
		if s.serverMaySeeInHierarchy(ctx, child, req.Server) {
			if hc.Chunk, err = hierarchyChunk(child, spaceChildren(child, req.SuggestedOnly)); err != nil {
				return nil, err
			}
		}
		out.Children = append(out.Children, hc)
	}
	return out, nil
}

// serverMaySeeInHierarchy is the client rule (maySeeInHierarchy) for a
// whole server: one of its users is in the room or invited, or the room
// is world-readable, or anyone may join or knock, or, restricted, one of
// its users is joined to a room the join rules allow.
func (s *Server) serverMaySeeInHierarchy(ctx context.Context, r *room, server spec.ServerName) bool {
	if r.servers[server] > 0 {
		return true
	}
	for k, ev := range r.state {
		if k.EventType != spec.MRoomMember || serverOf(k.StateKey) != server {
			continue
		}
		if m, _ := ev.pdu.Membership(); m == spec.Invite {
			return true
		}
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
	switch content(spec.MRoomJoinRules, "join_rule").String() {
	case "public", "knock", "knock_restricted":
		return true
	case "restricted":
		for _, allow := range content(spec.MRoomJoinRules, "allow").Array() {
			if allow.Get("type").String() != "m.room_membership" {
				continue
			}
			if other, err := s.room(ctx, allow.Get("room_id").String()); err == nil && other.servers[server] > 0 {
				return true
			}
		}
	}
	return false
}
