package app_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// A room is upgraded on another server: when our user joins the
// replacement, their tags come along, our alias of the old room points to
// the new one, and our room directory lists the new room instead.
func TestFederationUpgradeIsFollowed(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob, old := federatedRoom(t, hs1, hs2)

	alias := id.RoomAlias("#vorgang:" + string(hs2.ServerName))
	if _, err := bob.CreateAlias(ctx, alias, old); err != nil {
		t.Fatal(err)
	}
	if status, body := rawCall(t, bob, "PUT", "/directory/list/room/"+url.PathEscape(old.String()), map[string]any{"visibility": "public"}); status != 200 {
		t.Fatalf("publish on hs2: %d %v", status, body)
	}
	if err := bob.AddTag(ctx, old, "u.akten", 0.5); err != nil {
		t.Fatal(err)
	}

	status, body := rawCall(t, alice, "POST", "/rooms/"+url.PathEscape(old.String())+"/upgrade", map[string]any{"new_version": "11"})
	newRoom := id.RoomID(stringOf(body["replacement_room"]))
	if status != 200 || newRoom == "" {
		t.Fatalf("upgrade: %d %v", status, body)
	}
	// The tombstone reaches hs2 before bob follows it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var tomb map[string]any
		if err := bob.StateEvent(ctx, old, event.StateTombstone, "", &tomb); err == nil && tomb["replacement_room"] == newRoom.String() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tombstone did not reach hs2")
		}
	}
	if _, err := bob.JoinRoom(ctx, newRoom.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatalf("bob joins the new room: %v", err)
	}

	tags, err := bob.GetTags(ctx, newRoom)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tags.Tags["u.akten"]; !ok {
		t.Errorf("bob's tags in the new room: %v", tags.Tags)
	}
	resolved, err := bob.ResolveAlias(ctx, alias)
	if err != nil || resolved.RoomID != newRoom {
		t.Errorf("%s resolves to %v (%v), want %s", alias, resolved, err, newRoom)
	}
	public, err := bob.PublicRooms(ctx, &mautrix.ReqPublicRooms{})
	if err != nil {
		t.Fatal(err)
	}
	var listed []id.RoomID
	for _, r := range public.Chunk {
		listed = append(listed, r.RoomID)
	}
	if !slices.Contains(listed, newRoom) || slices.Contains(listed, old) {
		t.Errorf("hs2's directory lists %v, want the new room %s and not the old %s", listed, newRoom, old)
	}
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}
