package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func noticesServer(t *testing.T, autoJoin bool) *apptest.Server {
	cfg := apptest.Config(t.TempDir())
	cfg.ServerNotices = config.ServerNotices{SystemMXIDLocalpart: "hinweise", SystemMXIDDisplayName: "Serverhinweise",
		RoomName: "Hinweise des Betreibers", RoomTopic: "Wartung und Richtlinien", AutoJoin: autoJoin}
	return apptest.StartWith(t, cfg)
}

// noticesRoomOf is the room the notice event_id went to.
func noticesRoomOf(t *testing.T, srv *apptest.Server, eventID string) id.RoomID {
	t.Helper()
	var roomID string
	if err := srv.App.DB.Read.QueryRow(`SELECT r.room_id FROM events e JOIN rooms r ON r.room_nid = e.room_nid WHERE e.event_id = $1`, eventID).Scan(&roomID); err != nil {
		t.Fatal(err)
	}
	return id.RoomID(roomID)
}

// Server notices as Synapse sends them: the system user, one room per
// user tagged m.server_notice, invite, idempotent transactions, a new
// room after the user left.
func TestAdminAPIServerNotices(t *testing.T) {
	t.Parallel()
	srv := noticesServer(t, false)
	ctx := context.Background()
	root := registerAdmin(t, srv, "noticeroot")
	alice := srv.Register(t, "alice")
	hs := string(root.UserID.Homeserver())
	notice := func(body string) map[string]any {
		return map[string]any{"user_id": alice.UserID.String(), "content": map[string]any{"msgtype": "m.text", "body": body}}
	}

	status, body := adminCall(t, root, "POST", "/v1/send_server_notice", notice("Wartung heute Nacht"))
	if status != 200 || body["event_id"] == nil {
		t.Fatalf("send: %d %v", status, body)
	}
	room := noticesRoomOf(t, srv, body["event_id"].(string))
	if m, err := alice.Members(ctx, room); err == nil {
		t.Fatalf("alice reads the members before joining: %+v", m)
	}
	if _, err := alice.JoinRoom(ctx, room.String(), nil); err != nil {
		t.Fatalf("alice accepts the invite: %v", err)
	}
	var name event.RoomNameEventContent
	if err := alice.StateEvent(ctx, room, event.StateRoomName, "", &name); err != nil || name.Name != "Hinweise des Betreibers" {
		t.Fatalf("room name: %v %+v", err, name)
	}
	tags, err := alice.GetTags(ctx, room)
	if _, ok := tags.Tags[event.RoomTag("m.server_notice")]; err != nil || !ok {
		t.Fatalf("tags: %v %+v", err, tags)
	}
	var system event.MemberEventContent
	if err := alice.StateEvent(ctx, room, event.StateMember, "@hinweise:"+hs, &system); err != nil || system.Displayname != "Serverhinweise" {
		t.Fatalf("system user: %v %+v", err, system)
	}
	if _, err := alice.SendText(ctx, room, "Antwort"); httpStatus(err) != 403 {
		t.Fatalf("alice writes in the notices room: %v", err)
	}
	// The same room for the next notice; a repeated transaction sends once.
	status, first := adminCall(t, root, "PUT", "/v1/send_server_notice/t1", notice("Neue Richtlinie"))
	if status != 200 || noticesRoomOf(t, srv, first["event_id"].(string)) != room {
		t.Fatalf("second notice: %d %v", status, first)
	}
	if status, again := adminCall(t, root, "PUT", "/v1/send_server_notice/t1", notice("Neue Richtlinie")); status != 200 || again["event_id"] != first["event_id"] {
		t.Fatalf("repeated transaction: %d %v, first %v", status, again, first)
	}
	msgs, err := alice.Messages(ctx, room, "", "", mautrix.DirectionBackward, &mautrix.FilterPart{Types: []event.Type{event.EventMessage}}, 10)
	if err != nil || len(msgs.Chunk) != 2 {
		t.Fatalf("alice's notices: %v %+v", err, msgs)
	}
	// After she left, a new room.
	if _, err := alice.LeaveRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	status, body = adminCall(t, root, "POST", "/v1/send_server_notice", notice("Erinnerung"))
	if status != 200 || noticesRoomOf(t, srv, body["event_id"].(string)) == room {
		t.Fatalf("notice after leaving: %d %v", status, body)
	}

	for _, tc := range []struct {
		name   string
		cli    *mautrix.Client
		body   map[string]any
		status int
		code   string
	}{
		{"not an admin", alice, notice("x"), 403, "M_FORBIDDEN"},
		{"remote user", root, map[string]any{"user_id": "@x:elsewhere.example", "content": map[string]any{"body": "x"}}, 400, "M_INVALID_PARAM"},
		{"unknown user", root, map[string]any{"user_id": "@nobody:" + hs, "content": map[string]any{"body": "x"}}, 404, "M_NOT_FOUND"},
		{"no content", root, map[string]any{"user_id": alice.UserID.String()}, 400, "M_MISSING_PARAM"},
		{"no user", root, map[string]any{"content": map[string]any{"body": "x"}}, 400, "M_MISSING_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := adminCall(t, tc.cli, "POST", "/v1/send_server_notice", tc.body); status != tc.status || body["errcode"] != tc.code {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
	_, audit := adminCall(t, root, "GET", "/v1/audit_log?action=server_notice.send&target="+esc(alice.UserID.String()), nil)
	if entries, _ := audit["entries"].([]any); len(entries) < 4 {
		t.Fatalf("audit log: %v", audit)
	}
}

// auto_join puts the user in the room; without server_notices the
// endpoint refuses.
func TestAdminAPIServerNoticesAutoJoinAndOff(t *testing.T) {
	t.Parallel()
	srv := noticesServer(t, true)
	root := registerAdmin(t, srv, "autoroot")
	bob := srv.Register(t, "bob")
	status, body := adminCall(t, root, "POST", "/v1/send_server_notice", map[string]any{"user_id": bob.UserID.String(), "content": map[string]any{"msgtype": "m.text", "body": "Willkommen"}})
	if status != 200 {
		t.Fatalf("send: %d %v", status, body)
	}
	room := noticesRoomOf(t, srv, body["event_id"].(string))
	joined, err := bob.JoinedRooms(context.Background())
	if err != nil || len(joined.JoinedRooms) != 1 || joined.JoinedRooms[0] != room {
		t.Fatalf("bob's rooms: %v %+v", err, joined)
	}

	// A server whose system localpart someone registered before refuses
	// to send notices as that account.
	cfg := apptest.Config(t.TempDir())
	cfg.ServerNotices = config.ServerNotices{SystemMXIDLocalpart: "hinweise"}
	taken := apptest.StartWith(t, cfg)
	takenRoot := registerAdmin(t, taken, "takenroot")
	squatter, _ := mautrix.NewClient(taken.URL, "", "")
	if _, err := squatter.RegisterDummy(context.Background(), &mautrix.ReqRegister{Username: "hinweise", Password: "correct horse battery staple"}); err != nil {
		t.Fatal(err)
	}
	dave := taken.Register(t, "dave")
	if status, body := adminCall(t, takenRoot, "POST", "/v1/send_server_notice", map[string]any{"user_id": dave.UserID.String(), "content": map[string]any{"body": "x"}}); status != 400 || body["errcode"] != "M_UNKNOWN" {
		t.Fatalf("localpart taken: %d %v", status, body)
	}
	if rooms, err := dave.JoinedRooms(context.Background()); err != nil || len(rooms.JoinedRooms) != 0 {
		t.Fatalf("dave's rooms: %v %v", err, rooms)
	}

	off := apptest.Start(t)
	offRoot := registerAdmin(t, off, "offroot")
	carol := off.Register(t, "carol")
	if status, body := adminCall(t, offRoot, "POST", "/v1/send_server_notice", map[string]any{"user_id": carol.UserID.String(), "content": map[string]any{"body": "x"}}); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
		t.Fatalf("notices off: %d %v", status, body)
	}
}
