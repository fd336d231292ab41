package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/tidwall/gjson"
)

// RoomVersion returns a room's version.
func (s *Server) RoomVersion(ctx context.Context, roomID string) (string, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return "", err
	}
	return string(r.version.Version()), nil
}

// CurrentState returns the client form of every current state event.
func (s *Server) CurrentState(ctx context.Context, roomID string) ([]json.RawMessage, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(r.state))
	for _, ev := range r.state {
		out = append(out, ev.client)
	}
	return out, nil
}

// StateEvent returns one current state event.
func (s *Server) StateEvent(ctx context.Context, roomID, evType, key string) (*StateEvent, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	ev := r.get(evType, key)
	if ev == nil {
		return nil, ErrEventNotFound
	}
	return &StateEvent{Client: ev.client, Content: json.RawMessage(ev.pdu.Content())}, nil
}

// Membership returns the user's current membership ("leave" if none).
func (s *Server) Membership(ctx context.Context, roomID string, user spec.UserID) (string, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return "", err
	}
	return r.membership(user.String()), nil
}

// JoinedMembers returns the joined members with their room profiles.
func (s *Server) JoinedMembers(ctx context.Context, roomID string) (map[string]MemberProfile, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	out := map[string]MemberProfile{}
	for k, ev := range r.state {
		if k.EventType != spec.MRoomMember {
			continue
		}
		if m, _ := ev.pdu.Membership(); m != spec.Join {
			continue
		}
		c := ev.pdu.Content()
		out[k.StateKey] = MemberProfile{DisplayName: gjson.GetBytes(c, "displayname").String(), AvatarURL: gjson.GetBytes(c, "avatar_url").String()}
	}
	return out, nil
}

// JoinedRooms lists the rooms the user is joined to.
func (s *Server) JoinedRooms(ctx context.Context, user spec.UserID) ([]string, error) {
	ms, err := s.store.MembershipsOfUser(ctx, user.String())
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, m := range ms {
		if m.Membership == spec.Join {
			out = append(out, m.RoomID)
		}
	}
	return out, nil
}

// Event returns a stored event that is part of a room's timeline.
func (s *Server) Event(ctx context.Context, eventID string) (*Event, error) {
	e, err := s.store.EventByID(ctx, eventID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (e.Rejected || e.StreamPos == 0)) {
		return nil, ErrEventNotFound
	}
	if err != nil {
		return nil, err
	}
	room, err := s.store.RoomByNID(ctx, e.RoomNID)
	if err != nil {
		return nil, fmt.Errorf("room of event %s: %w", eventID, err)
	}
	return &Event{RoomID: room.ID, EventID: e.ID, Type: e.Type, StateKey: e.StateKey, Sender: e.Sender, StreamPos: e.StreamPos, Client: e.Client}, nil
}

// RoomSummary returns the counts and heroes the sync summary needs: up to
// five members other than user, joined or invited, in state-key order.
func (s *Server) RoomSummary(ctx context.Context, roomID string, user spec.UserID) (*Summary, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	sum := &Summary{}
	var others []string
	for k, ev := range r.state {
		if k.EventType != spec.MRoomMember {
			continue
		}
		m, _ := ev.pdu.Membership()
		switch m {
		case spec.Join:
			sum.Joined++
		case spec.Invite:
			sum.Invited++
		default:
			continue
		}
		if k.StateKey != user.String() {
			others = append(others, k.StateKey)
		}
	}
	// Heroes name a room that has no name of its own.
	if named(r) {
		return sum, nil
	}
	slices.Sort(others)
	sum.Heroes = others[:min(5, len(others))]
	return sum, nil
}

// ForgetRoom marks the user's left membership as forgotten.
func (s *Server) ForgetRoom(ctx context.Context, roomID string, user spec.UserID) error {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return err
	}
	return s.store.Forget(ctx, r.nid, user.String())
}

// named tells whether a room has a non-empty name or canonical alias.
func named(r *room) bool {
	if ev := r.get(spec.MRoomName, ""); ev != nil && gjson.GetBytes(ev.pdu.Content(), "name").String() != "" {
		return true
	}
	ev := r.get(spec.MRoomCanonicalAlias, "")
	return ev != nil && gjson.GetBytes(ev.pdu.Content(), "alias").String() != ""
}
