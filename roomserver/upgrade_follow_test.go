package roomserver

import (
	"context"
	"encoding/json"
	"testing"
)

// Our aliases follow an upgrade only to the room the old room's tombstone
// names: a room that merely claims our room as its predecessor gets none.
func TestFollowUpgradeNeedsTheTombstone(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	api := apiOf(t, s)
	old, err := api.CreateRoom(ctx, CreateRoomRequest{Creator: alice, Preset: "public_chat", RoomVersion: "10"})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.PutAlias(ctx, "#akte:test.local", old.RoomID, alice); err != nil {
		t.Fatal(err)
	}
	claimant, err := api.CreateRoom(ctx, CreateRoomRequest{Creator: alice, Preset: "public_chat", RoomVersion: "10"})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.FollowUpgrade(ctx, old.RoomID, claimant.RoomID); err != nil {
		t.Fatal(err)
	}
	if got, _ := api.ResolveAlias(ctx, "#akte:test.local"); got != old.RoomID {
		t.Fatalf("without a tombstone the alias moved to %s", got)
	}
	empty := ""
	if _, err := api.SendEvent(ctx, SendEventRequest{RoomID: old.RoomID, Sender: alice, Type: "m.room.tombstone", StateKey: &empty,
		Content: json.RawMessage(`{"body":"moved","replacement_room":"` + claimant.RoomID + `"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := api.FollowUpgrade(ctx, old.RoomID, claimant.RoomID); err != nil {
		t.Fatal(err)
	}
	if got, _ := api.ResolveAlias(ctx, "#akte:test.local"); got != claimant.RoomID {
		t.Fatalf("after the tombstone the alias points to %s", got)
	}
}
