package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// POST /v1/user/{userId}/redact redacts the user's messages through the
// roomserver, as the user; its status says when it is done.
func TestAdminAPIUserRedact(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	admin := registerAdmin(t, srv, "redactadmin")
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	send := func(cli *mautrix.Client, body string) id.EventID {
		t.Helper()
		res, err := cli.SendText(ctx, room.RoomID, body)
		if err != nil {
			t.Fatal(err)
		}
		return res.EventID
	}
	spam := []id.EventID{send(alice, "Werbung 1"), send(alice, "Werbung 2"), send(alice, "Werbung 3")}
	kept := send(bob, "Hallo")

	for _, tc := range []struct {
		name   string
		cli    *mautrix.Client
		path   string
		body   map[string]any
		status int
		code   string
	}{
		{"not an admin", bob, "/v1/user/" + alice.UserID.String() + "/redact", map[string]any{"rooms": []string{}}, 403, "M_FORBIDDEN"},
		{"unknown user", admin, "/v1/user/@nobody:localhost/redact", map[string]any{"rooms": []string{}}, 404, "M_NOT_FOUND"},
		{"without rooms", admin, "/v1/user/" + alice.UserID.String() + "/redact", map[string]any{}, 400, "M_MISSING_PARAM"},
		{"bad room id", admin, "/v1/user/" + alice.UserID.String() + "/redact", map[string]any{"rooms": []string{"kein raum"}}, 400, "M_INVALID_PARAM"},
		{"bad limit", admin, "/v1/user/" + alice.UserID.String() + "/redact", map[string]any{"rooms": []string{}, "limit": 0}, 400, "M_INVALID_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := adminCall(t, tc.cli, "POST", tc.path, tc.body)
			if status != tc.status || body["errcode"] != tc.code {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	if status, body := adminCall(t, admin, "GET", "/v1/user/redact_status/nosuchtask", nil); status != 404 || body["errcode"] != "M_NOT_FOUND" {
		t.Fatalf("unknown task: %d %v", status, body)
	}

	status, body := adminCall(t, admin, "POST", "/v1/user/"+alice.UserID.String()+"/redact",
		map[string]any{"rooms": []string{}, "reason": "Spam", "limit": 2})
	redactID, _ := body["redact_id"].(string)
	if status != 200 || redactID == "" {
		t.Fatalf("redact: %d %v", status, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body = adminCall(t, admin, "GET", "/v1/user/redact_status/"+redactID, nil)
		if status != 200 {
			t.Fatalf("status: %d %v", status, body)
		}
		if body["status"] == "complete" {
			break
		}
		if body["status"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("status: %v", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if failed, _ := body["failed_redactions"].(map[string]any); len(failed) != 0 {
		t.Fatalf("failed: %v", body)
	}
	redacted := func(evID id.EventID) bool {
		t.Helper()
		ev, err := bob.GetEvent(ctx, room.RoomID, evID)
		if err != nil {
			t.Fatal(err)
		}
		return len(ev.Content.Raw) == 0 && ev.Unsigned.RedactedBecause != nil
	}
	// limit 2: the two oldest of alice's messages, her room's state untouched.
	if !redacted(spam[0]) || !redacted(spam[1]) || redacted(spam[2]) || redacted(kept) {
		t.Fatalf("redacted: %v %v %v, bob's %v", redacted(spam[0]), redacted(spam[1]), redacted(spam[2]), redacted(kept))
	}
	ev, _ := bob.GetEvent(ctx, room.RoomID, spam[0])
	if ev.Unsigned.RedactedBecause.Sender != alice.UserID || ev.Unsigned.RedactedBecause.Content.Raw["reason"] != "Spam" {
		t.Fatalf("redacted_because %+v", ev.Unsigned.RedactedBecause)
	}
	if _, err := alice.SendStateEvent(ctx, room.RoomID, event.StateTopic, "", map[string]any{"topic": "still mine"}); err != nil {
		t.Fatalf("alice is still the room's admin: %v", err)
	}
	status, body = adminCall(t, admin, "GET", "/v1/audit_log?action=user.redact&target="+alice.UserID.String(), nil)
	// The three refused attempts on alice, and the one that ran.
	if status != 200 || body["total"] != float64(4) {
		t.Fatalf("audit: %d %v", status, body)
	}
}
