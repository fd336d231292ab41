package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/tidwall/gjson"
)

// upgradeCopiedState are the state events a room upgrade carries over, as
// the spec's room upgrade section lists them.
var upgradeCopiedState = []string{"m.room.server_acl", "m.room.encryption", spec.MRoomName, "m.room.avatar",
	spec.MRoomTopic, "m.room.guest_access", spec.MRoomHistoryVisibility, spec.MRoomJoinRules}

// UpgradeRoom replaces a room with a new one of another version: it
// creates the new room with the old one's state and power levels, points
// the old room at it with a tombstone, restricts who may speak in the old
// room, and moves the local aliases and the directory listing. The old
// room's additional creators are not carried over: the caller names the
// new room's (spec v1.16).
//
// All of it is one task of the input loop, committed in one transaction
// (decision 0019): other readers see the old room before the upgrade or
// both rooms after it, never a tombstone naming a room that does not
// exist, and a caller that goes away (a client hanging up) does not stop
// it half way. The task runs on a context detached from the caller's.
func (s *Server) UpgradeRoom(ctx context.Context, roomID string, user spec.UserID, newVersion string, additionalCreators []spec.UserID) (string, error) {
	verImpl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(newVersion))
	if err != nil || !verImpl.Stable() {
		return "", fmt.Errorf("%w: %s", ErrUnsupportedVersion, newVersion)
	}
	ctx = context.WithoutCancel(ctx)
	if _, err := s.room(ctx, roomID); err != nil {
		return "", err
	}
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		return b.upgradeRoom(ctx, roomID, user, verImpl, additionalCreators)
	})
	if err != nil {
		return "", err
	}
	return res.(string), nil
}

// upgradeRoom is UpgradeRoom's task. It works on a copy of the batch's
// working copy of the old room and registers the new room only when every
// step succeeded, so that a failing upgrade leaves the batch as it found it.
func (b *batch) upgradeRoom(ctx context.Context, roomID string, user spec.UserID, verImpl gomatrixserverlib.IRoomVersion, additionalCreators []spec.UserID) (string, error) {
	working, err := b.room(ctx, roomID)
	if err != nil {
		return "", err
	}
	old := working.clone()
	if !canSendState(old, user.String(), "m.room.tombstone") {
		return "", fmt.Errorf("%w: you may not upgrade this room", ErrForbidden)
	}
	req := CreateRoomRequest{Creator: user, RoomVersion: string(verImpl.Version()), Preset: "private_chat"}
	predecessor := map[string]string{"room_id": roomID}
	creation := map[string]any{"predecessor": predecessor}
	if create := old.get(spec.MRoomCreate, ""); create != nil {
		c := create.pdu.Content()
		if t := gjson.GetBytes(c, "type"); t.Exists() {
			creation["type"] = t.Value()
		}
		if f := gjson.GetBytes(c, "m\\.federate"); f.Exists() {
			creation["m.federate"] = f.Value()
		}
	}
	if verImpl.PrivilegedCreators() && len(additionalCreators) > 0 {
		ids := make([]string, 0, len(additionalCreators))
		for _, u := range additionalCreators {
			if u != user && !slices.Contains(ids, u.String()) {
				ids = append(ids, u.String())
			}
		}
		creation["additional_creators"] = ids
	}
	// restorePL, when set, is the old room's power levels, sent to the new
	// room once the upgrader, raised for the room's creation, is done.
	var restorePL json.RawMessage
	if pl := old.get(spec.MRoomPowerLevels, ""); pl != nil {
		req.PowerLevelContentOverride = json.RawMessage(pl.pdu.Content())
		if !verImpl.PrivilegedCreators() {
			if raised, ok := raiseUpgrader(pl.pdu, user.String()); ok {
				req.PowerLevelContentOverride, restorePL = raised, json.RawMessage(pl.pdu.Content())
			}
		}
	}
	for _, t := range upgradeCopiedState {
		if ev := old.get(t, ""); ev != nil {
			req.InitialState = append(req.InitialState, InitialStateEvent{Type: t, Content: json.RawMessage(ev.pdu.Content())})
		}
	}
	if m := old.get(spec.MRoomMember, user.String()); m != nil {
		req.CreatorProfile = MemberProfile{
			DisplayName: gjson.GetBytes(m.pdu.Content(), "displayname").String(),
			AvatarURL:   gjson.GetBytes(m.pdu.Content(), "avatar_url").String(),
		}
	}
	// Where the new room's id can be chosen, the tombstone comes first and
	// the new room names it as its predecessor event; a v12 room's id
	// derives from its create event, so there the room comes first. Both
	// are committed together either way.
	var replacement *room
	create := func() error {
		req.CreationContent, _ = json.Marshal(creation)
		events, err := createRoomEvents(req, verImpl)
		if err != nil {
			return err
		}
		replacement, err = b.createRoom(req, verImpl, events)
		return err
	}
	if !verImpl.DomainlessRoomIDs() {
		req.RoomID = newRoomID(user.Domain())
		tomb, err := b.sendTombstone(old, user, req.RoomID)
		if err != nil {
			return "", err
		}
		predecessor["event_id"] = tomb
		if err := create(); err != nil {
			return "", err
		}
	} else {
		if err := create(); err != nil {
			return "", err
		}
		if _, err := b.sendTombstone(old, user, replacement.id); err != nil {
			return "", err
		}
	}
	// The spec restricts the old room only "if possible": a moderator
	// allowed to upgrade may not be allowed to change power levels.
	if canSendState(old, user.String(), spec.MRoomPowerLevels) {
		if err := b.restrictOldRoom(old, user); err != nil {
			return "", err
		}
	}
	if err := b.moveCanonicalAlias(old, replacement, user); err != nil {
		return "", err
	}
	if err := b.copyBans(old, replacement, user); err != nil {
		return "", err
	}
	if restorePL != nil {
		if err := b.sendState(replacement, user, spec.MRoomPowerLevels, "", restorePL); err != nil {
			return "", fmt.Errorf("power levels in new room: %w", err)
		}
	}
	if old.visibility == "public" {
		replacement.visibility, old.visibility, old.dirty = "public", "private", true
	}
	b.write.AliasMoves = append(b.write.AliasMoves, storage.AliasMove{From: roomID, To: replacement.id})
	// Nothing can fail any more: the changed copy of the old room and the
	// new room become the batch's.
	b.rooms[roomID] = old
	b.addRoom(replacement)
	return replacement.id, nil
}

// sendState builds and applies a state event of the user's in r, unless
// it would replace the same content from the same sender.
func (b *batch) sendState(r *room, user spec.UserID, evType, key string, content json.RawMessage) error {
	if unchangedState(r, SendEventRequest{Sender: user, Type: evType, StateKey: &key, Content: content}) != "" {
		return nil
	}
	pdu, err := b.build(r, user, evType, &key, content, "")
	if err != nil {
		return err
	}
	b.apply(r, pdu, eventMeta{})
	return nil
}

// restrictOldRoom raises events_default and invite so that ordinary
// members stop talking in the replaced room.
func (b *batch) restrictOldRoom(old *room, user spec.UserID) error {
	ev := old.get(spec.MRoomPowerLevels, "")
	if ev == nil {
		return nil
	}
	var pl map[string]any
	if json.Unmarshal(ev.pdu.Content(), &pl) != nil {
		return nil
	}
	usersDefault := gjson.GetBytes(ev.pdu.Content(), "users_default").Int()
	restricted := max(50, usersDefault+1)
	pl["events_default"], pl["invite"] = restricted, restricted
	content, _ := json.Marshal(pl)
	if err := b.sendState(old, user, spec.MRoomPowerLevels, "", content); err != nil {
		return fmt.Errorf("restrict old room: %w", err)
	}
	return nil
}

// FollowUpgrade is what this server does when it first joins the room
// that replaced one upgraded on another server: our local aliases of the
// old room point to the new one, and a listing in our room directory moves
// with them. Only when the old room's tombstone names the new room, so
// that nobody can take our aliases by naming our room as the predecessor
// of theirs. Done once: the old room's aliases are gone after it.
func (s *Server) FollowUpgrade(ctx context.Context, oldID, newID string) error {
	tomb, err := s.StateEvent(ctx, oldID, "m.room.tombstone", "")
	if errors.Is(err, ErrRoomNotFound) || errors.Is(err, ErrEventNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if gjson.GetBytes(tomb.Content, "replacement_room").String() != newID {
		return nil
	}
	if err := s.repointAliases(ctx, oldID, newID); err != nil {
		return err
	}
	if v, err := s.Visibility(ctx, oldID); err == nil && v == "public" {
		if err := s.SetVisibility(ctx, newID, "public"); err != nil {
			return err
		}
		return s.SetVisibility(ctx, oldID, "private")
	}
	return nil
}

// repointAliases points the old room's local aliases at the new room,
// each keeping its creator.
func (s *Server) repointAliases(ctx context.Context, oldID, newID string) error {
	aliases, err := s.store.AliasesOfRoom(ctx, oldID)
	if err != nil {
		return err
	}
	for _, a := range aliases {
		_, creator, err := s.store.Alias(ctx, a)
		if err != nil {
			continue
		}
		if err := s.store.DeleteAlias(ctx, a); err != nil {
			return err
		}
		if err := s.store.PutAlias(ctx, a, newID, creator); err != nil {
			return err
		}
	}
	return nil
}

// moveCanonicalAlias sends the old room's canonical alias in the new room
// and clears it in the old one where the upgrader may (the aliases
// themselves move with the batch's AliasMoves).
func (b *batch) moveCanonicalAlias(old, replacement *room, user spec.UserID) error {
	ev := old.get(spec.MRoomCanonicalAlias, "")
	if ev == nil || len(ev.pdu.Content()) <= 2 {
		return nil
	}
	if err := b.sendState(replacement, user, spec.MRoomCanonicalAlias, "", json.RawMessage(ev.pdu.Content())); err != nil {
		return fmt.Errorf("canonical alias in new room: %w", err)
	}
	if !canSendState(old, user.String(), spec.MRoomCanonicalAlias) {
		return nil
	}
	if err := b.sendState(old, user, spec.MRoomCanonicalAlias, "", json.RawMessage(`{}`)); err != nil {
		return fmt.Errorf("canonical alias in old room: %w", err)
	}
	return nil
}

func (b *batch) sendTombstone(old *room, user spec.UserID, replacement string) (string, error) {
	empty := ""
	content, _ := json.Marshal(map[string]string{"body": "This room has been replaced", "replacement_room": replacement})
	pdu, err := b.build(old, user, "m.room.tombstone", &empty, content, "")
	if err != nil {
		return "", fmt.Errorf("tombstone: %w", err)
	}
	b.apply(old, pdu, eventMeta{})
	return pdu.EventID(), nil
}

// copyBans bans in the new room whoever was banned in the old one.
func (b *batch) copyBans(old, replacement *room, user spec.UserID) error {
	keys := make([]stateKey, 0)
	for k, ev := range old.state {
		if k.EventType != spec.MRoomMember {
			continue
		}
		if m, _ := ev.pdu.Membership(); m == spec.Ban {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, c stateKey) int { return strings.Compare(a.StateKey, c.StateKey) })
	for _, k := range keys {
		ev := old.state[k]
		ban := map[string]any{"membership": spec.Ban}
		if reason := gjson.GetBytes(ev.pdu.Content(), "reason").String(); reason != "" {
			ban["reason"] = reason
		}
		content, _ := json.Marshal(ban)
		if err := b.sendState(replacement, user, spec.MRoomMember, k.StateKey, content); err != nil {
			return fmt.Errorf("copy ban of %s: %w", k.StateKey, err)
		}
	}
	return nil
}

// raiseUpgrader returns the old room's power levels with the upgrader
// raised to the highest level any state event or ban needs, when they are
// below it: the upgrader sends the new room's initial state, its copied
// bans and its canonical alias, whatever their level in the old room.
// ok is false when the upgrader needs no raise.
func raiseUpgrader(plEvent gomatrixserverlib.PDU, upgrader string) (json.RawMessage, bool) {
	pl, err := plEvent.PowerLevels()
	if err != nil {
		return nil, false
	}
	needed := max(pl.StateDefault, pl.Ban)
	for _, level := range pl.Events {
		needed = max(needed, level)
	}
	if pl.UserLevel(spec.SenderID(upgrader)) >= needed {
		return nil, false
	}
	var content map[string]json.RawMessage
	if json.Unmarshal(plEvent.Content(), &content) != nil {
		return nil, false
	}
	users := map[string]json.RawMessage{}
	if raw, ok := content["users"]; ok && json.Unmarshal(raw, &users) != nil {
		return nil, false
	}
	users[upgrader], _ = json.Marshal(needed)
	content["users"], _ = json.Marshal(users)
	raised, err := json.Marshal(content)
	if err != nil {
		return nil, false
	}
	return raised, true
}
