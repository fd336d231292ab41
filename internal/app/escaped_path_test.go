package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Identifiers may hold a "/", which a client escapes as %2F; it must stay
// one path segment and reach the handler unescaped.
func TestEscapedSlashInPathParameters(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	stateType := event.NewEventType("de.bund.akte")
	for _, key := range []string{"a/b", "/", "x%2Fy", "ä ö/ü"} {
		if _, err := alice.SendStateEvent(ctx, room.RoomID, stateType, key, map[string]any{"key": key}); err != nil {
			t.Fatalf("put state %q: %v", key, err)
		}
		var got map[string]any
		if err := alice.StateEvent(ctx, room.RoomID, stateType, key, &got); err != nil {
			t.Fatalf("get state %q: %v", key, err)
		}
		if got["key"] != key {
			t.Fatalf("state %q came back as %v", key, got)
		}
	}

	alias := id.NewRoomAlias("akten/2026", "localhost")
	if _, err := alice.CreateAlias(ctx, alias, room.RoomID); err != nil {
		t.Fatalf("put alias: %v", err)
	}
	resolved, err := alice.ResolveAlias(ctx, alias)
	if err != nil {
		t.Fatalf("resolve alias: %v", err)
	}
	if resolved.RoomID != room.RoomID {
		t.Fatalf("alias resolved to %s, want %s", resolved.RoomID, room.RoomID)
	}

	first, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage,
		map[string]any{"msgtype": "m.text", "body": "eins"}, mautrix.ReqSendEvent{TransactionID: "txn/1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage,
		map[string]any{"msgtype": "m.text", "body": "eins"}, mautrix.ReqSendEvent{TransactionID: "txn/1"})
	if err != nil {
		t.Fatal(err)
	}
	if first.EventID != again.EventID {
		t.Fatalf("retry with txn id txn/1 gave a new event %s, want %s", again.EventID, first.EventID)
	}
}
