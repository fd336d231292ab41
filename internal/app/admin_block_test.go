package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/synapseadmin"
)

// An admin blocks a room: local users can no longer join it (by id or
// alias, invited or not); unblocked, they can again.
func TestAdminAPIRoomBlock(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	root := registerAdmin(t, srv, "blockroot")
	sa := &synapseadmin.Client{Client: root}
	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "gesperrt"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := sa.GetRoomBlockStatus(ctx, room.RoomID); err != nil || st.Block || st.UserID != "" {
		t.Fatalf("before: %v %+v", err, st)
	}
	if err := sa.BlockRoom(ctx, room.RoomID, synapseadmin.ReqBlockRoom{Block: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := sa.GetRoomBlockStatus(ctx, room.RoomID); err != nil || !st.Block || st.UserID != root.UserID {
		t.Fatalf("blocked: %v %+v", err, st)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), nil); httpStatus(err) != 403 {
		t.Fatalf("join of a blocked room by id: %v", err)
	}
	alias := "#gesperrt:" + string(root.UserID.Homeserver())
	if _, err := bob.JoinRoom(ctx, alias, nil); httpStatus(err) != 403 {
		t.Fatalf("join of a blocked room by alias: %v", err)
	}
	if _, err := alice.InviteUser(ctx, room.RoomID, &mautrix.ReqInviteUser{UserID: carol.UserID}); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.JoinRoomByID(ctx, room.RoomID); httpStatus(err) != 403 {
		t.Fatalf("invited join of a blocked room: %v", err)
	}
	// A room the server does not know can be blocked ahead.
	unknown := id.RoomID("!unbekannt:" + string(root.UserID.Homeserver()))
	if err := sa.BlockRoom(ctx, unknown, synapseadmin.ReqBlockRoom{Block: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := sa.GetRoomBlockStatus(ctx, unknown); !st.Block {
		t.Fatalf("unknown room not blocked: %+v", st)
	}
	for _, tc := range []struct {
		cli          *mautrix.Client
		method, path string
		body         any
		status       int
	}{
		{root, "PUT", "/v1/rooms/" + esc("#alias:x") + "/block", map[string]any{"block": true}, 400},
		{root, "PUT", "/v1/rooms/" + esc(room.RoomID.String()) + "/block", map[string]any{}, 400},
		{root, "PUT", "/v1/rooms/" + esc(room.RoomID.String()) + "/block", map[string]any{"block": "ja"}, 400},
		{alice, "GET", "/v1/rooms/" + esc(room.RoomID.String()) + "/block", nil, 403},
		{alice, "PUT", "/v1/rooms/" + esc(room.RoomID.String()) + "/block", map[string]any{"block": false}, 403},
	} {
		if status, body := adminCall(t, tc.cli, tc.method, tc.path, tc.body); status != tc.status {
			t.Fatalf("%s %s %v: %d %v", tc.method, tc.path, tc.body, status, body)
		}
	}

	if err := sa.BlockRoom(ctx, room.RoomID, synapseadmin.ReqBlockRoom{Block: false}); err != nil {
		t.Fatal(err)
	}
	if st, _ := sa.GetRoomBlockStatus(ctx, room.RoomID); st.Block {
		t.Fatalf("still blocked: %+v", st)
	}
	if _, err := bob.JoinRoom(ctx, alias, nil); err != nil {
		t.Fatalf("join after unblocking: %v", err)
	}
	_, body := adminCall(t, root, "GET", "/v1/audit_log?action=room.block&target="+esc(room.RoomID.String()), nil)
	if entries, _ := body["entries"].([]any); len(entries) != 4 {
		t.Fatalf("audit of room.block (block, two refused, unblock): %v", body)
	}
}
