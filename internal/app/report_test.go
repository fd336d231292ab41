package app_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

func TestReportingContent(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := alice.SendText(ctx, room.RoomID, "bedenklich")
	if err != nil {
		t.Fatal(err)
	}
	eventPath := "/rooms/" + url.PathEscape(room.RoomID.String()) + "/report/" + url.PathEscape(sent.EventID.String())
	tests := []struct {
		name   string
		cli    *mautrix.Client
		path   string
		body   map[string]any
		status int
	}{
		{"a non-member cannot report an event", bob, eventPath, map[string]any{"reason": "x"}, 404},
		{"an unknown event", alice, "/rooms/" + url.PathEscape(room.RoomID.String()) + "/report/" + url.PathEscape("$nope"), map[string]any{}, 404},
		{"a member reports an event", alice, eventPath, map[string]any{"reason": "Beleidigung"}, 200},
		{"a room, by anyone", bob, "/rooms/" + url.PathEscape(room.RoomID.String()) + "/report", map[string]any{"reason": "Spam"}, 200},
		{"a room needs a reason", bob, "/rooms/" + url.PathEscape(room.RoomID.String()) + "/report", map[string]any{}, 400},
		{"a user", bob, "/users/" + url.PathEscape(alice.UserID.String()) + "/report", map[string]any{"reason": "Belästigung"}, 200},
		{"a malformed user", bob, "/users/" + url.PathEscape("nobody") + "/report", map[string]any{"reason": "?"}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := rawCall(t, tc.cli, "POST", tc.path, tc.body); status != tc.status {
				t.Fatalf("%d %v, want %d", status, body, tc.status)
			}
		})
	}
	reports, err := srv.App.Users.Reports(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 3 {
		t.Fatalf("%d reports stored, want 3: %+v", len(reports), reports)
	}
	if r := reports[2]; r.EventID != sent.EventID.String() || r.UserID != alice.UserID.String() || r.Reason != "Beleidigung" || r.Reporter.String() != alice.UserID.String() {
		t.Fatalf("event report %+v", r)
	}
	if r := reports[0]; r.UserID != alice.UserID.String() || r.Reporter.String() != bob.UserID.String() || r.RoomID != "" {
		t.Fatalf("user report %+v", r)
	}
}
