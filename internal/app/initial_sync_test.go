package app_test

import (
	"context"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// GET /rooms/{roomId}/initialSync: members see the current snapshot,
// anyone may peek into a world-readable room, former members see the room
// as they left it, others are refused.
func TestRoomInitialSync(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	open, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Visibility: "public", Name: "Bürgerbüro",
		InitialState: []*event.Event{{Type: event.StateHistoryVisibility, Content: event.Content{Parsed: &event.HistoryVisibilityEventContent{HistoryVisibility: event.HistoryVisibilityWorldReadable}}}}})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, closed.RoomID); err != nil {
		t.Fatal(err)
	}
	before, _ := alice.SendText(ctx, closed.RoomID, "vor dem Gehen")
	if _, err := bob.LeaveRoom(ctx, closed.RoomID); err != nil {
		t.Fatal(err)
	}
	after, _ := alice.SendText(ctx, closed.RoomID, "nach dem Gehen")
	var sent []id.EventID
	for i := range 25 {
		resp, err := alice.SendText(ctx, open.RoomID, "Nachricht "+string(rune('A'+i)))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, resp.EventID)
	}
	snapshot := func(cli *mautrix.Client, room id.RoomID) (int, gjson.Result) {
		status, body := rawCall(t, cli, "GET", "/rooms/"+string(room)+"/initialSync", nil)
		return status, gjsonOf(body)
	}

	status, s := snapshot(alice, open.RoomID)
	chunk := s.Get("messages.chunk").Array()
	if status != 200 || s.Get("membership").String() != "join" || s.Get("visibility").String() != "public" || len(chunk) != 20 ||
		chunk[19].Get("event_id").String() != string(sent[24]) || chunk[0].Get("event_id").String() != string(sent[5]) ||
		!s.Get("messages.start").Exists() || !s.Get("messages.end").Exists() {
		t.Fatalf("alice's snapshot: %d %s", status, s.Raw)
	}
	name := false
	for _, e := range s.Get("state").Array() {
		if e.Get("type").String() == "m.room.name" && e.Get("content.name").String() == "Bürgerbüro" {
			name = true
		}
	}
	if !name {
		t.Errorf("state lacks the room name: %s", s.Get("state").Raw)
	}
	// Paginating back from start continues right before the snapshot.
	status, older := rawCall(t, alice, "GET", "/rooms/"+string(open.RoomID)+"/messages?dir=b&limit=1&from="+s.Get("messages.start").String(), nil)
	if status != 200 || gjsonOf(older).Get("chunk.0.event_id").String() != string(sent[4]) {
		t.Errorf("the message before the snapshot: %d %v", status, older)
	}

	if status, s := snapshot(carol, open.RoomID); status != 200 || s.Get("membership").Exists() || len(s.Get("messages.chunk").Array()) < 3 {
		t.Errorf("carol peeking into a world-readable room: %d %s", status, s.Raw)
	}
	status, s = snapshot(bob, closed.RoomID)
	var ids []string
	for _, e := range s.Get("messages.chunk").Array() {
		ids = append(ids, e.Get("event_id").String())
	}
	if status != 200 || s.Get("membership").String() != "leave" || !contains(ids, string(before.EventID)) || contains(ids, string(after.EventID)) {
		t.Errorf("bob's snapshot of the room he left: %d %v %s", status, ids, s.Get("membership").Raw)
	}
	if status, body := rawCall(t, carol, "GET", "/rooms/"+string(closed.RoomID)+"/initialSync", nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("carol, never a member: %d %v", status, body)
	}
	if status, body := rawCall(t, carol, "GET", "/rooms/not-a-room/initialSync", nil); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
		t.Errorf("a malformed room id: %d %v", status, body)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
