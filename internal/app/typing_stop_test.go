package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// A stop of typing reaches the room's members as an m.typing with no
// users, also those whose sync token already has the start in it.
func TestTypingStopReachesSyncedMembers(t *testing.T) {
	t.Parallel()
	hs := apptest.Start(t)
	ctx := context.Background()
	alice, bob := hs.Register(t, "alice"), hs.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	since := map[id.UserID]string{alice.UserID: currentSince(t, alice), bob.UserID: currentSince(t, bob)}
	typingUsers := func(resp *mautrix.RespSync) ([]id.UserID, bool) {
		joined, ok := resp.Rooms.Join[room.RoomID]
		if !ok {
			return nil, false
		}
		for _, ev := range joined.Ephemeral.Events {
			if ev.Type == event.EphemeralEventTyping {
				_ = ev.Content.ParseRaw(ev.Type)
				return ev.Content.AsTyping().UserIDs, true
			}
		}
		return nil, false
	}
	if _, err := alice.UserTyping(ctx, room.RoomID, true, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, cli := range []*mautrix.Client{alice, bob} {
		since[cli.UserID] = syncUntil(t, cli, since[cli.UserID], "alice typing", func(resp *mautrix.RespSync) bool {
			users, ok := typingUsers(resp)
			return ok && slices.Equal(users, []id.UserID{alice.UserID})
		})
	}
	if _, err := alice.UserTyping(ctx, room.RoomID, false, 0); err != nil {
		t.Fatal(err)
	}
	for _, cli := range []*mautrix.Client{alice, bob} {
		syncUntil(t, cli, since[cli.UserID], "nobody typing", func(resp *mautrix.RespSync) bool {
			users, ok := typingUsers(resp)
			return ok && len(users) == 0
		})
	}
}
