package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"
	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// CreateRoom creates a room with the events the spec's createRoom lists, in
// its order, all in one batch: a room exists completely or not at all.
func (s *Server) CreateRoom(ctx context.Context, req CreateRoomRequest) (*CreateRoomResponse, error) {
	version := req.RoomVersion
	if version == "" {
		version = s.cfg.DefaultRoomVersion
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedVersion, version)
	}
	events, err := createRoomEvents(req, verImpl)
	if err != nil {
		return nil, err
	}
	var alias string
	if req.AliasLocalpart != "" {
		alias = "#" + req.AliasLocalpart + ":" + string(req.Creator.Domain())
	}
	if alias != "" {
		if _, _, err := s.store.Alias(ctx, alias); err == nil {
			return nil, ErrAliasExists
		}
	}
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		r, err := b.createRoom(req, verImpl, events)
		if err != nil {
			return nil, err
		}
		b.addRoom(r)
		return r.id, nil
	})
	if err != nil {
		return nil, err
	}
	roomID := res.(string)
	if alias != "" {
		if err := s.store.PutAlias(ctx, alias, roomID, req.Creator.String()); err != nil {
			if errors.Is(err, storage.ErrAliasExists) {
				return nil, ErrAliasExists
			}
			return nil, err
		}
	}
	return &CreateRoomResponse{RoomID: roomID, Alias: alias}, nil
}

// createRoom builds and applies a new room's events; the caller registers
// the room with addRoom once nothing of its task can fail any more.
func (b *batch) createRoom(req CreateRoomRequest, verImpl gomatrixserverlib.IRoomVersion, events []newEvent) (*room, error) {
	b.counters.RoomNID++
	r := &room{nid: b.counters.RoomNID, version: verImpl, visibility: "private", state: map[stateKey]*stateEvent{}}
	if !verImpl.DomainlessRoomIDs() {
		r.id = req.RoomID
		if r.id == "" {
			r.id = newRoomID(req.Creator.Domain())
		}
	}
	for i, fe := range events {
		pdu, err := b.build(r, req.Creator, fe.Type, fe.StateKey, fe.Content, "")
		if err != nil {
			return nil, fmt.Errorf("createRoom event %d (%s): %w", i, fe.Type, err)
		}
		if i == 0 && verImpl.DomainlessRoomIDs() {
			r.id = "!" + pdu.EventID()[1:]
		}
		b.apply(r, pdu, eventMeta{})
	}
	if req.Visibility == "public" {
		r.visibility = "public"
	}
	return r, nil
}

// newEvent is one event createRoom will send.
type newEvent struct {
	Type     string
	StateKey *string
	Content  json.RawMessage
}

func state(evType, key string, content any) newEvent {
	raw, ok := content.(json.RawMessage)
	if !ok {
		raw, _ = json.Marshal(content)
	}
	return newEvent{Type: evType, StateKey: &key, Content: raw}
}

// createRoomEvents lists createRoom's events: create, the creator's join,
// power levels, canonical alias, the preset's join rules, history
// visibility and guest access, initial_state, name, topic, then invites.
func createRoomEvents(req CreateRoomRequest, verImpl gomatrixserverlib.IRoomVersion) ([]newEvent, error) {
	creator := req.Creator.String()
	preset := req.Preset
	if preset == "" {
		preset = "private_chat"
		if req.Visibility == "public" {
			preset = "public_chat"
		}
	}
	switch preset {
	case "private_chat", "trusted_private_chat", "public_chat":
	default:
		return nil, fmt.Errorf("%w: unknown preset %q", ErrBadEvent, preset)
	}

	createContent := map[string]json.RawMessage{}
	if len(req.CreationContent) > 0 {
		if err := json.Unmarshal(req.CreationContent, &createContent); err != nil {
			return nil, fmt.Errorf("%w: creation_content must be an object", ErrBadEvent)
		}
	}
	createContent["room_version"], _ = json.Marshal(string(verImpl.Version()))
	var extraCreators []string
	if verImpl.PrivilegedCreators() {
		var err error
		if extraCreators, err = additionalCreators(createContent, creator, preset, append(slices.Clip(req.Invite), req.InviteLater...)); err != nil {
			return nil, err
		}
	}
	if verImpl.CreatorInCreateEvent() {
		createContent["creator"], _ = json.Marshal(creator)
	} else {
		delete(createContent, "creator")
	}
	events := []newEvent{state(spec.MRoomCreate, "", createContent)}

	join := map[string]any{"membership": spec.Join}
	if req.CreatorProfile.DisplayName != "" {
		join["displayname"] = req.CreatorProfile.DisplayName
	}
	if req.CreatorProfile.AvatarURL != "" {
		join["avatar_url"] = req.CreatorProfile.AvatarURL
	}
	events = append(events, state(spec.MRoomMember, creator, join))

	pl := defaultPowerLevels(creator, preset, append(slices.Clip(req.Invite), req.InviteLater...), verImpl.PrivilegedCreators())
	if verImpl.PrivilegedCreators() {
		// Only a creator may upgrade by default (spec v1.16): the level
		// is above state_default and every listed user.
		pl["events"].(map[string]int)["m.room.tombstone"] = 150
	}
	if len(req.PowerLevelContentOverride) > 0 {
		var override map[string]json.RawMessage
		if err := json.Unmarshal(req.PowerLevelContentOverride, &override); err != nil {
			return nil, fmt.Errorf("%w: power_level_content_override must be an object", ErrBadEvent)
		}
		for k, v := range override {
			pl[k] = v
		}
		if verImpl.PrivilegedCreators() {
			// Creators have unlimited power in these versions and must not
			// be listed (an upgrade copies the old room's users).
			pl["users"] = withoutUsers(pl["users"], append([]string{creator}, extraCreators...))
		}
	}
	events = append(events, state(spec.MRoomPowerLevels, "", pl))

	if req.AliasLocalpart != "" {
		alias := "#" + req.AliasLocalpart + ":" + string(req.Creator.Domain())
		events = append(events, state(spec.MRoomCanonicalAlias, "", map[string]string{"alias": alias}))
	}

	initial := map[stateKey]bool{}
	for _, ev := range req.InitialState {
		initial[stateKey{EventType: ev.Type, StateKey: ev.StateKey}] = true
	}
	presetEvent := func(ev newEvent) {
		if !initial[stateKey{EventType: ev.Type, StateKey: *ev.StateKey}] {
			events = append(events, ev)
		}
	}
	joinRule := spec.Invite
	if preset == "public_chat" {
		joinRule = spec.Public
	}
	presetEvent(state(spec.MRoomJoinRules, "", map[string]string{"join_rule": joinRule}))
	presetEvent(state(spec.MRoomHistoryVisibility, "", map[string]string{"history_visibility": "shared"}))
	// public_chat's guest_access "forbidden" is what an absent event means,
	// so only the private presets send one.
	if preset != "public_chat" {
		presetEvent(state("m.room.guest_access", "", map[string]string{"guest_access": "can_join"}))
	}

	for _, ev := range req.InitialState {
		if ev.Type == spec.MRoomCreate || (ev.Type == spec.MRoomMember) {
			return nil, fmt.Errorf("%w: initial_state may not contain %s", ErrBadEvent, ev.Type)
		}
		content := ev.Content
		if len(content) == 0 {
			content = json.RawMessage("{}")
		}
		events = append(events, state(ev.Type, ev.StateKey, content))
	}
	if req.Name != "" {
		events = append(events, state(spec.MRoomName, "", map[string]string{"name": req.Name}))
	}
	if req.Topic != "" {
		events = append(events, state(spec.MRoomTopic, "", map[string]any{
			// The spec's TopicContentBlock (v1.15): an object whose m.text
			// lists the representations.
			"topic": req.Topic, "m.topic": map[string]any{"m.text": []map[string]string{{"body": req.Topic, "mimetype": "text/plain"}}},
		}))
	}
	for _, invitee := range req.Invite {
		content := map[string]any{"membership": spec.Invite}
		if req.IsDirect {
			content["is_direct"] = true
		}
		p := req.InviteeProfiles[invitee.String()]
		if p.DisplayName != "" {
			content["displayname"] = p.DisplayName
		}
		if p.AvatarURL != "" {
			content["avatar_url"] = p.AvatarURL
		}
		events = append(events, state(spec.MRoomMember, invitee.String(), content))
	}
	return events, nil
}

func defaultPowerLevels(creator, preset string, invitees []spec.UserID, privilegedCreators bool) map[string]any {
	users := map[string]int64{}
	if !privilegedCreators {
		users[creator] = 100
	}
	// In versions with privileged creators the invitees of a trusted
	// chat are additional creators instead.
	if preset == "trusted_private_chat" && !privilegedCreators {
		for _, u := range invitees {
			users[u.String()] = 100
		}
	}
	invite := 0
	if preset == "public_chat" {
		invite = 50
	}
	return map[string]any{
		"users": users, "users_default": 0,
		"events": map[string]int{
			spec.MRoomName: 50, spec.MRoomPowerLevels: 100, spec.MRoomHistoryVisibility: 100,
			spec.MRoomCanonicalAlias: 50, "m.room.avatar": 50, "m.room.tombstone": 100,
			"m.room.server_acl": 100, "m.room.encryption": 100,
		},
		"events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50, "invite": invite,
		"notifications": map[string]int{"room": 50},
	}
}

// additionalCreators returns the create event's additional_creators for
// versions with privileged creators, and sets them in createContent: the
// ones the client gave and, for trusted_private_chat, the invitees (spec
// v1.16), without duplicates and without the creator.
func additionalCreators(createContent map[string]json.RawMessage, creator, preset string, invitees []spec.UserID) ([]string, error) {
	var given []string
	if raw, ok := createContent["additional_creators"]; ok {
		if err := json.Unmarshal(raw, &given); err != nil {
			return nil, fmt.Errorf("%w: additional_creators must be a list of user ids", ErrBadEvent)
		}
	}
	if preset == "trusted_private_chat" {
		for _, u := range invitees {
			given = append(given, u.String())
		}
	}
	var out []string
	for _, u := range given {
		if _, err := spec.NewUserID(u, true); err != nil {
			return nil, fmt.Errorf("%w: additional creator %q is not a user id", ErrBadEvent, u)
		}
		if u != creator && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if len(out) > 0 {
		createContent["additional_creators"], _ = json.Marshal(out)
	}
	return out, nil
}

// withoutUsers removes users from a power levels "users" value.
func withoutUsers(users any, drop []string) any {
	var m map[string]json.RawMessage
	switch u := users.(type) {
	case json.RawMessage:
		if json.Unmarshal(u, &m) != nil {
			return users
		}
	case map[string]int64:
		out := map[string]int64{}
		for k, v := range u {
			if !slices.Contains(drop, k) {
				out[k] = v
			}
		}
		return out
	default:
		return users
	}
	for _, d := range drop {
		delete(m, d)
	}
	return m
}

// newRoomID makes a room id for versions whose ids are chosen, not derived.
func newRoomID(server spec.ServerName) string {
	return "!" + util.RandomString(18) + ":" + string(server)
}
