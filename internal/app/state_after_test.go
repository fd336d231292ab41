package app_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// stateSection reads rooms.{section}.{room}.{key} of a raw /sync body as
// "type|state_key" → content; present tells whether the key was there.
func stateSection(body map[string]any, section string, room id.RoomID, key string) (state map[string]map[string]any, present bool) {
	rooms, _ := body["rooms"].(map[string]any)
	sec, _ := rooms[section].(map[string]any)
	r, _ := sec[room.String()].(map[string]any)
	list, ok := r[key].(map[string]any)
	if !ok {
		return nil, false
	}
	state = map[string]map[string]any{}
	evs, _ := list["events"].([]any)
	for _, e := range evs {
		ev, _ := e.(map[string]any)
		content, _ := ev["content"].(map[string]any)
		state[fmt.Sprintf("%s|%s", ev["type"], ev["state_key"])] = content
	}
	return state, true
}

// use_state_after (spec v1.16): state_after is the state at the end of
// the timeline, state changes inside the timeline included, and state is
// left out; without it, state is the state at the start of the timeline.
func TestSyncStateAfter(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	send := func(cli *mautrix.Client, n int) {
		for i := 0; i < n; i++ {
			if _, err := cli.SendText(ctx, room.RoomID, fmt.Sprintf("m%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	setState := func(evType event.Type, content map[string]any) {
		if _, err := alice.SendStateEvent(ctx, room.RoomID, evType, "", content); err != nil {
			t.Fatal(err)
		}
	}
	send(alice, 3)
	setState(event.StateRoomName, map[string]any{"name": "two"})
	filter := url.QueryEscape(`{"room":{"timeline":{"limit":2}}}`)

	// Initial sync: the timeline holds the renaming to "two".
	_, before := rawSync(t, alice, "filter="+filter)
	_, after := rawSync(t, alice, "filter="+filter+"&use_state_after=true")
	if state, ok := stateSection(before, "join", room.RoomID, "state"); !ok || state["m.room.name|"]["name"] != "one" {
		t.Errorf("initial state has name %v, want the name before the timeline", state["m.room.name|"])
	}
	if _, ok := stateSection(before, "join", room.RoomID, "state_after"); ok {
		t.Errorf("state_after without use_state_after")
	}
	stateAfter, ok := stateSection(after, "join", room.RoomID, "state_after")
	if !ok || stateAfter["m.room.name|"]["name"] != "two" || stateAfter["m.room.create|"] == nil ||
		stateAfter["m.room.member|"+bob.UserID.String()]["membership"] != "join" {
		t.Errorf("initial state_after = %v, want the state at the end of the timeline", stateAfter)
	}
	if _, ok := stateSection(after, "join", room.RoomID, "state"); ok {
		t.Errorf("state beside state_after")
	}

	// Incremental, with a gap: the topic was set before the timeline, the
	// name inside it.
	since, _ := after["next_batch"].(string)
	setState(event.StateTopic, map[string]any{"topic": "gap"})
	send(alice, 3)
	setState(event.StateRoomName, map[string]any{"name": "three"})
	_, before = rawSync(t, alice, "filter="+filter+"&since="+since)
	_, after = rawSync(t, alice, "filter="+filter+"&since="+since+"&use_state_after=true")
	if state, _ := stateSection(before, "join", room.RoomID, "state"); len(state) != 1 || state["m.room.topic|"]["topic"] != "gap" {
		t.Errorf("gapped state = %v, want the topic only", state)
	}
	if stateAfter, _ := stateSection(after, "join", room.RoomID, "state_after"); len(stateAfter) != 2 ||
		stateAfter["m.room.topic|"]["topic"] != "gap" || stateAfter["m.room.name|"]["name"] != "three" {
		t.Errorf("gapped state_after = %v, want topic and name", stateAfter)
	}

	// Incremental without a gap: state changes of the timeline are in
	// state_after too, and it is there even when empty.
	since, _ = after["next_batch"].(string)
	setState(event.StateTopic, map[string]any{"topic": "no gap"})
	_, after = rawSync(t, alice, "filter="+filter+"&since="+since+"&use_state_after=true")
	if stateAfter, _ := stateSection(after, "join", room.RoomID, "state_after"); len(stateAfter) != 1 || stateAfter["m.room.topic|"]["topic"] != "no gap" {
		t.Errorf("state_after = %v, want the new topic", stateAfter)
	}
	since, _ = after["next_batch"].(string)
	send(alice, 1)
	_, after = rawSync(t, alice, "filter="+filter+"&since="+since+"&use_state_after=true")
	if stateAfter, ok := stateSection(after, "join", room.RoomID, "state_after"); !ok || len(stateAfter) != 0 {
		t.Errorf("state_after = %v (present %v), want present and empty", stateAfter, ok)
	}

	// A left room ends with the leave.
	_, bobFirst := rawSync(t, bob, "use_state_after=true")
	bobSince, _ := bobFirst["next_batch"].(string)
	if _, err := bob.LeaveRoom(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"since=" + bobSince + "&", ""} {
		_, left := rawSync(t, bob, q+"use_state_after=true&filter="+url.QueryEscape(`{"room":{"include_leave":true}}`))
		stateAfter, ok := stateSection(left, "leave", room.RoomID, "state_after")
		if !ok || stateAfter["m.room.member|"+bob.UserID.String()]["membership"] != "leave" {
			t.Errorf("left room (%q) state_after = %v, want bob's leave", q, stateAfter)
		}
	}
}
