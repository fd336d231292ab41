package app_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// TestPushWithoutContent: with push.include_content off (the
// BundesMessenger profile), the gateway gets the event and room ids and
// the counts, never the message, its sender, type or the room's name,
// even for a pusher that asked for the full format.
func TestPushWithoutContent(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.Push.IncludeContent = false
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	gw := newPushGateway(t)
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	setPusher(t, bob, "fcm-token-bob", map[string]any{"url": gw.url()})
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Referat 7", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	msg, err := alice.SendText(ctx, room.RoomID, "Verschlusssache")
	if err != nil {
		t.Fatal(err)
	}
	n := gw.waitFor(t, msg.EventID)
	if n.Get("room_id").String() != string(room.RoomID) || !n.Get("counts.unread").Exists() || n.Get("devices.0.pushkey").String() != "fcm-token-bob" {
		t.Fatalf("notification lacks the ids or counts: %s", n.Raw)
	}
	for _, leak := range []string{"content", "type", "sender", "sender_display_name", "room_name", "room_alias", "id"} {
		if n.Get(leak).Exists() {
			t.Errorf("notification carries %s: %s", leak, n.Raw)
		}
	}
}
