package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/synapseadmin"
)

// synapse-admin's room pages: the list with search and sort orders, one
// room, its members and its state.
func TestAdminAPIRooms(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	root := registerAdmin(t, srv, "roomroot")
	sa := &synapseadmin.Client{Client: root}
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	big, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Bürgerbüro", Visibility: "public", Topic: "Anliegen"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, big.RoomID.String(), nil); err != nil {
		t.Fatal(err)
	}
	small, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Amtsstube"})
	if err != nil {
		t.Fatal(err)
	}

	list, err := sa.ListRooms(ctx, synapseadmin.ReqListRoom{OrderBy: "name"})
	if err != nil || list.TotalRooms != 2 || len(list.Rooms) != 2 || list.Rooms[0].RoomID != small.RoomID || list.Rooms[1].Name != "Bürgerbüro" {
		t.Fatalf("by name: %v %+v", err, list)
	}
	b := list.Rooms[1]
	if b.JoinedMembers != 2 || b.JoinedLocalMembers != 2 || !b.Public || b.Creator != alice.UserID || b.JoinRules != "public" || b.Version == "" || b.StateEvents == 0 {
		t.Fatalf("big room: %+v", b)
	}
	list, err = sa.ListRooms(ctx, synapseadmin.ReqListRoom{OrderBy: "joined_members", Limit: 1})
	if err != nil || len(list.Rooms) != 1 || list.Rooms[0].RoomID != big.RoomID || list.NextBatch != 1 || list.TotalRooms != 2 {
		t.Fatalf("largest first, one a page: %v %+v", err, list)
	}
	list, err = sa.ListRooms(ctx, synapseadmin.ReqListRoom{SearchTerm: "amts"})
	if err != nil || list.TotalRooms != 1 || list.Rooms[0].RoomID != small.RoomID {
		t.Fatalf("search: %v %+v", err, list)
	}
	for _, bad := range []string{"?order_by=size", "?from=-1", "?dir=x"} {
		if status, body := adminCall(t, root, "GET", "/v1/rooms"+bad, nil); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
			t.Fatalf("%s: %d %v", bad, status, body)
		}
	}

	info, err := sa.RoomInfo(ctx, big.RoomID)
	if err != nil || info.Name != "Bürgerbüro" || info.JoinedMembers != 2 {
		t.Fatalf("RoomInfo: %v %+v", err, info)
	}
	if status, body := adminCall(t, root, "GET", "/v1/rooms/"+esc(big.RoomID.String()), nil); status != 200 || body["topic"] != "Anliegen" {
		t.Fatalf("room topic: %d %v", status, body)
	}
	members, err := sa.RoomMembers(ctx, big.RoomID)
	if err != nil || members.Total != 2 || len(members.Members) != 2 {
		t.Fatalf("RoomMembers: %v %+v", err, members)
	}
	status, body := adminCall(t, root, "GET", "/v1/rooms/"+esc(small.RoomID.String())+"/state", nil)
	if state, _ := body["state"].([]any); status != 200 || len(state) < 5 {
		t.Fatalf("state: %d %v", status, body)
	}
	for _, p := range []string{"", "/members", "/state"} {
		if status, body := adminCall(t, root, "GET", "/v1/rooms/"+esc("!unknown:"+string(root.UserID.Homeserver()))+p, nil); status != 404 || body["errcode"] != "M_NOT_FOUND" {
			t.Fatalf("unknown room%s: %d %v", p, status, body)
		}
	}
	if status, _ := adminCall(t, alice, "GET", "/v1/rooms", nil); status != 403 {
		t.Fatalf("alice lists rooms: %d", status)
	}
}
