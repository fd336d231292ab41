package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// An upgrade that fails half way changes nothing (decision 0019): here the
// old room (version 5, which allows floats) has a topic that version 11
// refuses as not canonical JSON, so building the new room fails after the
// tombstone was built. The old room keeps no tombstone, its power levels,
// aliases and current state stay as they were, and no new room exists.
func TestFailedUpgradeChangesNothing(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice, RoomVersion: "5", Name: "floats", AliasLocalpart: "floats"})
	if err != nil {
		t.Fatal(err)
	}
	empty := ""
	if _, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: res.RoomID, Sender: alice, Type: spec.MRoomTopic, StateKey: &empty,
		Content: json.RawMessage(`{"topic":"t","weight":1.5}`)}); err != nil {
		t.Fatalf("a float in a version 5 room: %v", err)
	}
	before, err := apiOf(t, s).CurrentState(ctx, res.RoomID)
	if err != nil {
		t.Fatal(err)
	}
	rooms := s.counters.RoomNID

	_, err = apiOf(t, s).UpgradeRoom(ctx, res.RoomID, alice, "11", nil)
	if !errors.Is(err, ErrBadEvent) {
		t.Fatalf("upgrade: %v, want it refused as a bad event", err)
	}
	if _, err := apiOf(t, s).StateEvent(ctx, res.RoomID, "m.room.tombstone", ""); !errors.Is(err, ErrEventNotFound) {
		t.Errorf("tombstone after a failed upgrade: %v", err)
	}
	after, err := apiOf(t, s).CurrentState(ctx, res.RoomID)
	if err != nil {
		t.Fatal(err)
	}
	had := map[string]bool{}
	for _, ev := range before {
		had[string(ev)] = true
	}
	if len(after) != len(before) {
		t.Errorf("old room's state has %d events, had %d", len(after), len(before))
	}
	for _, ev := range after {
		if !had[string(ev)] {
			t.Errorf("old room's state has the new %s", ev)
		}
	}
	if id, err := apiOf(t, s).ResolveAlias(ctx, "#floats:test.local"); err != nil || id != res.RoomID {
		t.Errorf("alias points at %s, %v", id, err)
	}
	if s.counters.RoomNID != rooms {
		t.Errorf("room counter moved from %d to %d", rooms, s.counters.RoomNID)
	}
	// The room still takes events, on top of its real extremities.
	if _, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: res.RoomID, Sender: alice, Type: "m.room.message",
		Content: json.RawMessage(`{"msgtype":"m.text","body":"still here"}`)}); err != nil {
		t.Fatalf("send after the failed upgrade: %v", err)
	}
}
