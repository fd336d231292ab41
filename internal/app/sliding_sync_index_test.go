package app_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// indexTestLists are lists whose filters read every kind of data the
// room index keeps: the room type and name (meta), invites, DMs.
func indexTestRequest(conn string) map[string]any {
	rs := [][]string{{"m.room.name", ""}}
	return map[string]any{
		"conn_id": conn,
		"lists": map[string]any{
			"all_rooms": map[string]any{"ranges": [][]int{{0, 3}}, "timeline_limit": 1, "required_state": rs,
				"filters": map[string]any{"not_room_types": []string{"m.space"}}},
			"everything": map[string]any{"ranges": [][]int{{0, 99}}, "timeline_limit": 1, "required_state": rs},
			"projects": map[string]any{"ranges": [][]int{{0, 99}}, "timeline_limit": 0, "required_state": rs,
				"filters": map[string]any{"room_name_like": "projekt"}},
			"invites": map[string]any{"ranges": [][]int{{0, 99}}, "timeline_limit": 0, "required_state": rs,
				"filters": map[string]any{"is_invite": true}},
			"dms": map[string]any{"ranges": [][]int{{0, 99}}, "timeline_limit": 0, "required_state": rs,
				"filters": map[string]any{"is_dm": true}},
		},
	}
}

func listsOf(r *ssResponse) map[string]string {
	out := map[string]string{}
	for name, l := range r.Lists {
		var ids [][]string
		for _, op := range l.Ops {
			ids = append(ids, op.RoomIDs)
		}
		out[name] = fmt.Sprintf("count %d %v", l.Count, ids)
	}
	return out
}

// TestSlidingSyncIndexMatchesFreshRead: the room index a sync server
// keeps between requests, brought forward from the events since its
// position, gives the lists that reading every room afresh gives, after
// each kind of change: messages, invites, joins, renames, kicks,
// forgetting (which moves no stream), spaces, m.direct.
func TestSlidingSyncIndexMatchesFreshRead(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	var rooms []id.RoomID
	for i := 0; i < 5; i++ {
		r, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: fmt.Sprintf("Raum %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		send(t, alice, r.RoomID, "hello")
		rooms = append(rooms, r.RoomID)
	}
	// A list without filters first: the index is read without the rooms'
	// meta, which the next request's filters then need.
	if status, _ := slide(t, srv.URL, alice, "", 0, map[string]any{"conn_id": "plain",
		"lists": map[string]any{"a": map[string]any{"ranges": [][]int{{0, 9}}}}}); status != 200 {
		t.Fatalf("plain: %d", status)
	}
	_, warm := slide(t, srv.URL, alice, "", 0, indexTestRequest("warm"))
	pos := warm.Pos
	fresh := 0
	check := func(step string) *ssResponse {
		t.Helper()
		status, w := slide(t, srv.URL, alice, pos, 0, indexTestRequest("warm"))
		if status != 200 {
			t.Fatalf("%s: warm %d %s", step, status, w.ErrCode)
		}
		pos = w.Pos
		srv.App.Sync.DropRoomIndexes()
		fresh++
		_, c := slide(t, srv.URL, alice, "", 0, indexTestRequest(fmt.Sprintf("fresh-%d", fresh)))
		if got, want := listsOf(w), listsOf(c); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: lists from the index\n%v\nread afresh\n%v", step, got, want)
		}
		return w
	}

	send(t, alice, rooms[0], "up")
	if w := check("message"); listRooms(w, "all_rooms")[0] != rooms[0].String() {
		t.Fatalf("the room with the message is not first: %v", listRooms(w, "all_rooms"))
	}
	// The index was dropped by check: the next request reads all, the
	// one after brings it forward. Every step below runs on an index
	// brought forward from the step before.
	send(t, alice, rooms[1], "up")
	check("message after a drop")

	inv, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Einladung", Invite: []id.UserID{alice.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if w := check("invite"); !slices.Contains(listRooms(w, "invites"), inv.RoomID.String()) {
		t.Fatalf("invite missing: %v", listsOf(w))
	}
	if _, err := alice.JoinRoomByID(ctx, inv.RoomID); err != nil {
		t.Fatal(err)
	}
	send(t, bob, inv.RoomID, "welcome")
	if w := check("join"); len(listRooms(w, "invites")) != 0 {
		t.Fatalf("joined room still an invite: %v", listsOf(w))
	}

	if _, err := alice.SendStateEvent(ctx, rooms[2], event.StateRoomName, "", map[string]any{"name": "Projekt Nord"}); err != nil {
		t.Fatal(err)
	}
	if w := check("rename"); !slices.Equal(listRooms(w, "projects"), []string{rooms[2].String()}) {
		t.Fatalf("renamed room not in projects: %v", listsOf(w))
	}

	kick, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Rauswurf"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.JoinRoomByID(ctx, kick.RoomID); err != nil {
		t.Fatal(err)
	}
	check("join a public room")
	if _, err := bob.KickUser(ctx, kick.RoomID, &mautrix.ReqKickUser{UserID: alice.UserID, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if w := check("kick"); !slices.Contains(listRooms(w, "everything"), kick.RoomID.String()) {
		t.Fatalf("a kick stays listed until forgotten: %v", listsOf(w))
	}
	// Forgetting sets a flag without a stream position; the next event
	// elsewhere brings the index forward, and the kick must be gone.
	if _, err := alice.ForgetRoom(ctx, kick.RoomID); err != nil {
		t.Fatal(err)
	}
	send(t, alice, rooms[3], "after the forget")
	if w := check("forget"); slices.Contains(listRooms(w, "everything"), kick.RoomID.String()) {
		t.Fatalf("forgotten room still listed: %v", listsOf(w))
	}

	space, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Name: "Projekt Space", CreationContent: map[string]any{"type": "m.space"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := check("space"); slices.Contains(listRooms(w, "all_rooms"), space.RoomID.String()) ||
		!slices.Contains(listRooms(w, "everything"), space.RoomID.String()) {
		t.Fatalf("space: %v", listsOf(w))
	}

	if err := alice.SetAccountData(ctx, "m.direct", map[string][]string{bob.UserID.String(): {inv.RoomID.String()}}); err != nil {
		t.Fatal(err)
	}
	if w := check("m.direct"); !slices.Equal(listRooms(w, "dms"), []string{inv.RoomID.String()}) {
		t.Fatalf("dms: %v", listsOf(w))
	}

	if _, err := alice.LeaveRoom(ctx, rooms[4]); err != nil {
		t.Fatal(err)
	}
	// A room the user left is shown once to a connection that had it
	// (a fresh one never shows it), then no more.
	_, left := slide(t, srv.URL, alice, pos, 0, indexTestRequest("warm"))
	if !slices.Contains(listRooms(left, "everything"), rooms[4].String()) {
		t.Fatalf("leave not told: %v", listsOf(left))
	}
	pos = left.Pos
	send(t, alice, rooms[0], "after the leave")
	if w := check("after a leave"); slices.Contains(listRooms(w, "everything"), rooms[4].String()) {
		t.Fatalf("left room still listed: %v", listsOf(w))
	}
}
