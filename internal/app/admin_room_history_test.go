package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/synapseadmin"
)

// waitPurge polls a history purge until it ends.
func waitPurge(t *testing.T, admin *mautrix.Client, purgeID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := adminCall(t, admin, "GET", "/v1/purge_history_status/"+purgeID, nil)
		if status != 200 {
			t.Fatalf("purge status: %d %v", status, body)
		}
		if body["status"] != "active" {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("purge %s still active", purgeID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A room's history as an admin who is not in it reads it, purging part
// of it, and membership by admin (make_room_admin, join).
func TestAdminAPIRoomHistory(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	root := registerAdmin(t, srv, "histroot")
	sa := &synapseadmin.Client{Client: root}
	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Akten"})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []id.EventID
	for i := range 5 {
		resp, err := alice.SendText(ctx, room.RoomID, fmt.Sprint("Vermerk ", i))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, resp.EventID)
	}
	roomPath := "/v1/rooms/" + esc(room.RoomID.String())

	// Messages, newest first, in pages.
	page, err := sa.RoomMessages(ctx, room.RoomID, "", "", mautrix.DirectionBackward, nil, 2)
	if err != nil || len(page.Chunk) != 2 || page.Chunk[0].ID != msgs[4] || page.Chunk[1].ID != msgs[3] || page.End == "" {
		t.Fatalf("first page: %v %+v", err, page)
	}
	page, err = sa.RoomMessages(ctx, room.RoomID, page.End, "", mautrix.DirectionBackward, nil, 2)
	if err != nil || len(page.Chunk) != 2 || page.Chunk[0].ID != msgs[2] {
		t.Fatalf("second page: %v %+v", err, page)
	}
	page, err = sa.RoomMessages(ctx, room.RoomID, "", "", mautrix.DirectionForward, &mautrix.FilterPart{Types: []event.Type{event.EventMessage}}, 10)
	if err != nil || len(page.Chunk) != 5 || page.Chunk[0].ID != msgs[0] {
		t.Fatalf("forwards, messages only: %v %+v", err, page)
	}
	// Context of the middle message.
	status, body := adminCall(t, root, "GET", roomPath+"/context/"+esc(msgs[2].String())+"?limit=2", nil)
	before, _ := body["events_before"].([]any)
	after, _ := body["events_after"].([]any)
	state, _ := body["state"].([]any)
	ev, _ := body["event"].(map[string]any)
	if status != 200 || ev["event_id"] != msgs[2].String() || len(before) != 1 || len(after) != 1 || len(state) < 5 {
		t.Fatalf("context: %d %v", status, body)
	}
	// Forward extremities: one, nothing to drop.
	status, body = adminCall(t, root, "GET", roomPath+"/forward_extremities", nil)
	if results, _ := body["results"].([]any); status != 200 || body["count"] != float64(1) || len(results) != 1 {
		t.Fatalf("forward extremities: %d %v", status, body)
	}
	if status, body = adminCall(t, root, "DELETE", roomPath+"/forward_extremities", nil); status != 200 || body["deleted"] != float64(0) {
		t.Fatalf("drop forward extremities: %d %v", status, body)
	}

	// Purge: without delete_local_events, alice's messages stay.
	_, stateBefore := adminCall(t, root, "GET", roomPath+"/state", nil)
	status, body = adminCall(t, root, "POST", "/v1/purge_history/"+esc(room.RoomID.String()), map[string]any{"purge_up_to_ts": time.Now().UnixMilli() + 1000})
	if status != 200 || body["purge_id"] == nil {
		t.Fatalf("purge: %d %v", status, body)
	}
	if st := waitPurge(t, root, body["purge_id"].(string)); st["status"] != "complete" {
		t.Fatalf("purge status: %v", st)
	}
	if page, err = sa.RoomMessages(ctx, room.RoomID, "", "", mautrix.DirectionForward, &mautrix.FilterPart{Types: []event.Type{event.EventMessage}}, 10); err != nil || len(page.Chunk) != 5 {
		t.Fatalf("local messages after a purge of remote ones: %v %d", err, len(page.Chunk))
	}
	// With delete_local_events, up to message 3: messages 0-2 go, state stays.
	status, body = adminCall(t, root, "POST", "/v1/purge_history/"+esc(room.RoomID.String())+"/"+esc(msgs[3].String()), map[string]any{"delete_local_events": true})
	if status != 200 {
		t.Fatalf("purge up to an event: %d %v", status, body)
	}
	if st := waitPurge(t, root, body["purge_id"].(string)); st["status"] != "complete" {
		t.Fatalf("purge status: %v", st)
	}
	page, err = sa.RoomMessages(ctx, room.RoomID, "", "", mautrix.DirectionForward, nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	var left []id.EventID
	stateEvents := 0
	for _, e := range page.Chunk {
		if e.StateKey != nil {
			stateEvents++
		} else {
			left = append(left, e.ID)
		}
	}
	if len(left) != 2 || left[0] != msgs[3] || left[1] != msgs[4] || stateEvents < 5 {
		t.Fatalf("after the purge: messages %v, %d state events", left, stateEvents)
	}
	var n int
	if err := srv.App.DB.Read.QueryRow(`SELECT COUNT(*) FROM events WHERE event_id IN ($1, $2, $3)`, msgs[0].String(), msgs[1].String(), msgs[2].String()).Scan(&n); err != nil || n != 0 {
		t.Fatalf("purged events in the database: %v %d", err, n)
	}
	_, stateAfter := adminCall(t, root, "GET", roomPath+"/state", nil)
	if a, b := stateBefore["state"].([]any), stateAfter["state"].([]any); len(a) != len(b) {
		t.Fatalf("state changed by the purge: %d -> %d", len(a), len(b))
	}
	if _, err := alice.SendText(ctx, room.RoomID, "nach der Bereinigung"); err != nil {
		t.Fatalf("send after the purge: %v", err)
	}

	// make_room_admin: alice, the creator, gives bob her power and
	// invites him (the room is private).
	if err := sa.MakeRoomAdmin(ctx, room.RoomID.String(), synapseadmin.ReqMakeRoomAdmin{UserID: bob.UserID}); err != nil {
		t.Fatalf("make_room_admin: %v", err)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), nil); err != nil {
		t.Fatalf("bob joins after the invite: %v", err)
	}
	if _, err := bob.SendStateEvent(ctx, room.RoomID, event.StateTopic, "", &event.TopicEventContent{Topic: "von Bob"}); err != nil {
		t.Fatalf("bob as room admin: %v", err)
	}
	// join: refused into a private room the admin is not in, done into a
	// public one by alias.
	if err := sa.JoinUserToRoom(ctx, room.RoomID, synapseadmin.ReqJoinUserToRoom{UserID: carol.UserID}); httpStatus(err) != 403 {
		t.Fatalf("join into a private room: %v", err)
	}
	pub, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "aushang"})
	if err != nil {
		t.Fatal(err)
	}
	status, body = adminCall(t, root, "POST", "/v1/join/"+esc("#aushang:"+string(root.UserID.Homeserver())), map[string]any{"user_id": carol.UserID.String()})
	if status != 200 || body["room_id"] != pub.RoomID.String() {
		t.Fatalf("join by alias: %d %v", status, body)
	}
	if m, err := carol.JoinedRooms(ctx); err != nil || len(m.JoinedRooms) != 1 || m.JoinedRooms[0] != pub.RoomID {
		t.Fatalf("carol's rooms: %v %v", err, m)
	}

	unknown := "/v1/rooms/" + esc("!unknown:"+string(root.UserID.Homeserver()))
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"messages of an unknown room", "GET", unknown + "/messages", nil, 404, "M_NOT_FOUND"},
		{"context of an unknown event", "GET", roomPath + "/context/" + esc("$nope"), nil, 404, "M_NOT_FOUND"},
		{"extremities of an unknown room", "GET", unknown + "/forward_extremities", nil, 404, "M_NOT_FOUND"},
		{"bad dir", "GET", roomPath + "/messages?dir=x", nil, 400, "M_INVALID_PARAM"},
		{"bad from", "GET", roomPath + "/messages?from=abc", nil, 400, "M_INVALID_PARAM"},
		{"bad limit", "GET", roomPath + "/messages?limit=-3", nil, 400, "M_INVALID_PARAM"},
		{"purge of an unknown room", "POST", "/v1/purge_history/" + esc("!unknown:"+string(root.UserID.Homeserver())), map[string]any{"purge_up_to_ts": 1}, 404, "M_NOT_FOUND"},
		{"purge without a point", "POST", "/v1/purge_history/" + esc(room.RoomID.String()), map[string]any{}, 400, "M_MISSING_PARAM"},
		{"purge up to an unknown event", "POST", "/v1/purge_history/" + esc(room.RoomID.String()) + "/" + esc("$nope"), map[string]any{}, 404, "M_NOT_FOUND"},
		{"unknown purge id", "GET", "/v1/purge_history_status/nope", nil, 404, "M_NOT_FOUND"},
		{"join of a remote user", "POST", "/v1/join/" + esc(pub.RoomID.String()), map[string]any{"user_id": "@x:elsewhere.example"}, 400, "M_INVALID_PARAM"},
		{"make_room_admin of an unknown alias", "POST", "/v1/rooms/" + esc("#nope:"+string(root.UserID.Homeserver())) + "/make_room_admin", map[string]any{}, 404, "M_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := adminCall(t, root, tc.method, tc.path, tc.body); status != tc.status || body["errcode"] != tc.code {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
	for _, p := range []string{roomPath + "/messages", roomPath + "/forward_extremities"} {
		if status, _ := adminCall(t, alice, "GET", p, nil); status != 403 {
			t.Fatalf("alice GET %s: %d", p, status)
		}
	}
}

// By default a history purge removes only what other servers' users
// sent: the local users' events may be the only copies.
func TestAdminAPIPurgeHistoryKeepsLocalEvents(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	root := registerAdmin(t, hs1, "purgeroot")
	alice, bob, room := federatedRoom(t, hs1, hs2)
	for _, m := range []struct {
		cli  *mautrix.Client
		body string
	}{{alice, "von Alice"}, {bob, "von Bob"}, {alice, "zuletzt"}} {
		if _, err := m.cli.SendText(ctx, room, m.body); err != nil {
			t.Fatal(err)
		}
		waitForMessage(t, alice, room, m.body)
	}
	status, body := adminCall(t, root, "POST", "/v1/purge_history/"+esc(room.String()), map[string]any{"purge_up_to_ts": time.Now().UnixMilli() + 1000})
	if status != 200 {
		t.Fatalf("purge: %d %v", status, body)
	}
	if st := waitPurge(t, root, body["purge_id"].(string)); st["status"] != "complete" {
		t.Fatalf("purge status: %v", st)
	}
	sa := &synapseadmin.Client{Client: root}
	page, err := sa.RoomMessages(ctx, room, "", "", mautrix.DirectionForward, &mautrix.FilterPart{Types: []event.Type{event.EventMessage}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, e := range page.Chunk {
		bodies = append(bodies, e.Content.Raw["body"].(string))
	}
	if len(bodies) != 2 || bodies[0] != "von Alice" || bodies[1] != "zuletzt" {
		t.Fatalf("after the purge: %q", bodies)
	}
	// Bob's membership (state) stays: he still writes.
	if _, err := bob.SendText(ctx, room, "noch da"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, room, "noch da")
}
