package app_test

import (
	"context"
	"fmt"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// A redaction sent through PUT /send (spec v1.18, MSC4169) redacts like
// one sent through /redact, in every room version: before version 11 the
// server moves redacts from the content to the top level.
func TestRedactionThroughSend(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	for _, version := range []id.RoomVersion{"10", "11", "12"} {
		t.Run("v"+string(version), func(t *testing.T) {
			room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", RoomVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			target, err := alice.SendText(ctx, room.RoomID, "oops")
			if err != nil {
				t.Fatal(err)
			}
			path := fmt.Sprintf("/rooms/%s/send/m.room.redaction/txn-%s", room.RoomID, version)
			status, body := rawCall(t, alice, "PUT", path, map[string]any{"redacts": target.EventID.String(), "reason": "typo"})
			redactionID, _ := body["event_id"].(string)
			if status != 200 || redactionID == "" {
				t.Fatalf("send redaction: %d %v", status, body)
			}
			redacted, err := alice.GetEvent(ctx, room.RoomID, target.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if len(redacted.Content.Raw) != 0 || redacted.Unsigned.RedactedBecause == nil {
				t.Errorf("target not redacted: content %v, unsigned %+v", redacted.Content.Raw, redacted.Unsigned)
			}
			redaction, err := alice.GetEvent(ctx, room.RoomID, id.EventID(redactionID))
			if err != nil {
				t.Fatal(err)
			}
			inContent := redaction.Content.Raw["redacts"] == target.EventID.String()
			if version == "10" && (inContent || redaction.Redacts != target.EventID) {
				t.Errorf("v10 redaction: top-level redacts %q, content %v", redaction.Redacts, redaction.Content.Raw)
			}
			if version != "10" && !inContent {
				t.Errorf("v%s redaction content %v, want redacts", version, redaction.Content.Raw)
			}
			if redaction.Type != event.EventRedaction {
				t.Errorf("type %s", redaction.Type)
			}
		})
	}
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := alice.SendText(ctx, other.RoomID, "other room")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content map[string]any
		status  int
		errcode string
	}{
		{"no redacts", map[string]any{"reason": "x"}, 400, "M_BAD_JSON"},
		{"redacts not a string", map[string]any{"redacts": 5}, 400, "M_BAD_JSON"},
		{"not an event id", map[string]any{"redacts": "abc"}, 400, "M_INVALID_PARAM"},
		{"unknown event", map[string]any{"redacts": "$nothere"}, 404, "M_NOT_FOUND"},
		{"event of another room", map[string]any{"redacts": elsewhere.EventID.String()}, 400, "M_INVALID_PARAM"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := fmt.Sprintf("/rooms/%s/send/m.room.redaction/bad-%d", room.RoomID, i)
			if status, body := rawCall(t, alice, "PUT", path, tc.content); status != tc.status || body["errcode"] != tc.errcode {
				t.Errorf("got %d %v, want %d %s", status, body, tc.status, tc.errcode)
			}
		})
	}
}
