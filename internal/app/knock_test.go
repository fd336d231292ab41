package app_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestKnocking(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", RoomVersion: "10", Name: "Anfragen",
		InitialState: []*event.Event{{Type: event.StateJoinRules, Content: event.Content{Raw: map[string]any{"join_rule": "knock"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", RoomVersion: "10"})
	if err != nil {
		t.Fatal(err)
	}
	knock := func(roomID id.RoomID) (int, map[string]any) {
		return rawCall(t, bob, "POST", "/knock/"+url.PathEscape(roomID.String()), map[string]any{"reason": "Ich gehöre zum Referat"})
	}
	if status, body := knock(closed.RoomID); status != 403 {
		t.Fatalf("knocking on an invite-only room: %d %v", status, body)
	}
	if status, body := knock(room.RoomID); status != 200 || body["room_id"] != room.RoomID.String() {
		t.Fatalf("knock: %d %v", status, body)
	}
	// Bob sees the room under knock; Alice sees the knock in the room.
	resp, err := bob.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	kr, ok := resp.Rooms.Knock[room.RoomID]
	if !ok || len(kr.State.Events) == 0 {
		t.Fatalf("no knock section for the room: %+v", resp.Rooms.Knock)
	}
	var sawName bool
	for _, ev := range kr.State.Events {
		sawName = sawName || ev.Type == event.StateRoomName
	}
	if !sawName {
		t.Fatal("the knock state lacks the room name")
	}
	var member map[string]any
	if err := alice.StateEvent(ctx, room.RoomID, event.StateMember, bob.UserID.String(), &member); err != nil || member["membership"] != "knock" {
		t.Fatalf("alice sees bob's membership as %v (%v), want knock", member, err)
	}
	if _, err := alice.InviteUser(ctx, room.RoomID, &mautrix.ReqInviteUser{UserID: bob.UserID}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	if status, _ := knock(room.RoomID); status != 403 {
		t.Fatalf("knocking when joined: %d", status)
	}
}
