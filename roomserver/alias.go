package roomserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/tidwall/gjson"
)

// PutAlias maps a local alias to a room.
func (s *Server) PutAlias(ctx context.Context, alias, roomID string, creator spec.UserID) error {
	if _, err := s.room(ctx, roomID); err != nil {
		return err
	}
	err := s.store.PutAlias(ctx, alias, roomID, creator.String())
	if errors.Is(err, storage.ErrAliasExists) {
		return ErrAliasExists
	}
	return err
}

// ResolveAlias returns the room an alias points to.
func (s *Server) ResolveAlias(ctx context.Context, alias string) (string, error) {
	roomID, _, err := s.store.Alias(ctx, alias)
	if errors.Is(err, storage.ErrNotFound) {
		return "", ErrAliasNotFound
	}
	return roomID, err
}

// DeleteAlias removes an alias; its creator or a room member with the
// power to change the canonical alias may do so.
func (s *Server) DeleteAlias(ctx context.Context, alias string, user spec.UserID) error {
	roomID, creator, err := s.store.Alias(ctx, alias)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrAliasNotFound
	}
	if err != nil {
		return err
	}
	if creator != user.String() {
		r, err := s.room(ctx, roomID)
		if err != nil {
			return err
		}
		if !canSendState(r, user.String(), spec.MRoomCanonicalAlias) {
			return fmt.Errorf("%w: you may not delete this alias", ErrForbidden)
		}
	}
	if err := s.store.DeleteAlias(ctx, alias); errors.Is(err, storage.ErrNotFound) {
		return ErrAliasNotFound
	} else if err != nil {
		return err
	}
	return nil
}

// RoomAliases lists a room's local aliases.
func (s *Server) RoomAliases(ctx context.Context, roomID string) ([]string, error) {
	if _, err := s.room(ctx, roomID); err != nil {
		return nil, err
	}
	return s.store.AliasesOfRoom(ctx, roomID)
}

// canSendState tells whether user is joined and has the power level to
// send a state event of evType.
func canSendState(r *room, user, evType string) bool {
	if r.membership(user) != spec.Join {
		return false
	}
	if create := r.get(spec.MRoomCreate, ""); create != nil && r.version.PrivilegedCreators() {
		if string(create.pdu.SenderID()) == user {
			return true
		}
		for _, c := range gjson.GetBytes(create.pdu.Content(), "additional_creators").Array() {
			if c.String() == user {
				return true
			}
		}
	}
	plEv := r.get(spec.MRoomPowerLevels, "")
	if plEv == nil {
		return true
	}
	pl, err := plEv.pdu.PowerLevels()
	if err != nil {
		return false
	}
	return pl.UserLevel(spec.SenderID(user)) >= pl.EventLevel(evType, true)
}

// SetVisibility publishes a room in the directory or hides it.
func (s *Server) SetVisibility(ctx context.Context, roomID, visibility string) error {
	_, err := s.submit(ctx, func(b *batch) (any, error) {
		r, err := b.room(ctx, roomID)
		if err != nil {
			return nil, err
		}
		r.visibility = visibility
		r.dirty = true
		return nil, nil
	})
	return err
}

// Visibility returns "public" or "private".
func (s *Server) Visibility(ctx context.Context, roomID string) (string, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return "", err
	}
	return r.visibility, nil
}

// PublicRooms lists the published rooms with their summary.
func (s *Server) PublicRooms(ctx context.Context) ([]PublicRoom, error) {
	ids, err := s.store.PublicRoomIDs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PublicRoom, 0, len(ids))
	for _, id := range ids {
		r, err := s.room(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.visibility != "public" {
			continue
		}
		out = append(out, summarise(r))
	}
	return out, nil
}

func summarise(r *room) PublicRoom {
	content := func(evType, path string) string {
		if ev := r.get(evType, ""); ev != nil {
			return gjson.GetBytes(ev.pdu.Content(), path).String()
		}
		return ""
	}
	p := PublicRoom{
		RoomID: r.id, Name: content(spec.MRoomName, "name"), Topic: content(spec.MRoomTopic, "topic"),
		CanonicalAlias: content(spec.MRoomCanonicalAlias, "alias"), AvatarURL: content("m.room.avatar", "url"),
		WorldReadable: content(spec.MRoomHistoryVisibility, "history_visibility") == "world_readable",
		GuestCanJoin:  content("m.room.guest_access", "guest_access") == "can_join",
		JoinRule:      content(spec.MRoomJoinRules, "join_rule"), RoomType: content(spec.MRoomCreate, "type"),
	}
	for k, ev := range r.state {
		if k.EventType == spec.MRoomMember {
			if m, _ := ev.pdu.Membership(); m == spec.Join {
				p.NumJoinedMembers++
			}
		}
	}
	return p
}
