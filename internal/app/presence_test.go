package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

// A user who joins a room learns the presence of its members in the next
// incremental sync, even though their presence did not change.
func TestPresenceOfMembersOfNewlyJoinedRoom(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	// Alice never synced: she is offline, and bob must still be told so.
	first, err := bob.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	next, err := bob.SyncRequest(ctx, 0, first.NextBatch, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range next.Presence.Events {
		if ev.Sender == alice.UserID {
			return
		}
	}
	t.Fatalf("no presence of alice in bob's sync after joining: %+v", next.Presence.Events)
}
