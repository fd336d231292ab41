package app_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/synapseadmin"
)

// waitDelete polls a delete's status until it ends.
func waitDelete(t *testing.T, sa *synapseadmin.Client, deleteID string) synapseadmin.RespDeleteRoomStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := sa.DeleteRoomStatus(context.Background(), deleteID)
		if err != nil {
			t.Fatalf("delete status: %v", err)
		}
		if st.Status == "complete" || st.Status == "failed" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("delete %s still %s", deleteID, st.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// roomRows counts, in every table of the database, the rows that name
// the room by id or nid, or one of its events; tables whose rows are the
// admin API's record of the delete itself are left out.
func roomRows(t *testing.T, db *sqlutil.DB, roomID string, roomNID int64, eventIDs []string) map[string]int {
	t.Helper()
	ctx := context.Background()
	var q string
	if db.Dialect == sqlutil.Postgres {
		q = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()
			AND column_name IN ('room_id', 'room_nid', 'event_id')`
	} else {
		q = `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'
			AND p.name IN ('room_id', 'room_nid', 'event_id')`
	}
	rows, err := db.Read.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var cols [][2]string
	for rows.Next() {
		var tbl, col string
		if err := rows.Scan(&tbl, &col); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, [2]string{tbl, col})
	}
	rows.Close()
	if len(cols) < 8 {
		t.Fatalf("found only %v", cols)
	}
	out := map[string]int{}
	for _, c := range cols {
		switch c[0] {
		case "admin_blocked_rooms", "admin_room_tasks", "admin_audit_log":
			continue
		}
		var args []any
		switch c[1] {
		case "room_id":
			args = []any{roomID}
		case "room_nid":
			args = []any{roomNID}
		default:
			for _, e := range eventIDs {
				args = append(args, e)
			}
		}
		if len(args) == 0 {
			continue
		}
		ph := make([]string, len(args))
		for i := range args {
			ph[i] = fmt.Sprintf("$%d", i+1)
		}
		var n int
		if err := db.Read.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE %s IN (%s)`, c[0], c[1], strings.Join(ph, ",")), args...).Scan(&n); err != nil {
			t.Fatalf("%s.%s: %v", c[0], c[1], err)
		}
		if n > 0 {
			out[c[0]+"."+c[1]] = n
		}
	}
	return out
}

// The room delete as synapse-admin calls it: members moved out to a new
// room, aliases moved, the room blocked and every row of it purged.
func TestAdminAPIDeleteRoomPurge(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	root := registerAdmin(t, srv, "delroot")
	sa := &synapseadmin.Client{Client: root}
	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Schwarzmarkt", Visibility: "public",
		RoomAliasName: "schwarzmarkt", Invite: []id.UserID{carol.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), nil); err != nil {
		t.Fatal(err)
	}
	var eventIDs []string
	for i := range 3 {
		resp, err := bob.SendMessageEvent(ctx, room.RoomID, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: fmt.Sprint("Ware ", i)},
			mautrix.ReqSendEvent{TransactionID: fmt.Sprint("txn", i)})
		if err != nil {
			t.Fatal(err)
		}
		eventIDs = append(eventIDs, resp.EventID.String())
	}
	if err := alice.SendReceipt(ctx, room.RoomID, id.EventID(eventIDs[2]), event.ReceiptTypeRead, nil); err != nil {
		t.Fatal(err)
	}
	if err := alice.AddTag(ctx, room.RoomID, "m.favourite", 0.5); err != nil {
		t.Fatal(err)
	}
	if err := bob.ReportEvent(ctx, room.RoomID, id.EventID(eventIDs[0]), "illegal"); err != nil {
		t.Fatal(err)
	}
	var roomNID int64
	if err := srv.App.DB.Read.QueryRow(`SELECT room_nid FROM rooms WHERE room_id = $1`, room.RoomID.String()).Scan(&roomNID); err != nil {
		t.Fatal(err)
	}
	if before := roomRows(t, srv.App.DB, room.RoomID.String(), roomNID, eventIDs); before["events.room_nid"] == 0 || before["receipts.room_id"] == 0 ||
		before["account_data.room_id"] == 0 || before["room_aliases.room_id"] == 0 || before["client_txns.event_id"] == 0 {
		t.Fatalf("before the delete, the check sees: %v", before)
	}

	// Refused: not an admin, an unknown room, a bad body.
	unknown := "!unknown:" + string(root.UserID.Homeserver())
	for _, tc := range []struct {
		name   string
		cli    *mautrix.Client
		path   string
		body   any
		status int
		code   string
	}{
		{"not an admin", alice, "/v2/rooms/" + esc(room.RoomID.String()), map[string]any{}, 403, "M_FORBIDDEN"},
		{"unknown room", root, "/v2/rooms/" + esc(unknown), map[string]any{}, 404, "M_NOT_FOUND"},
		{"not a room id", root, "/v2/rooms/nonsense", map[string]any{}, 400, "M_INVALID_PARAM"},
		{"purge not a boolean", root, "/v2/rooms/" + esc(room.RoomID.String()), map[string]any{"purge": "yes"}, 400, "M_BAD_JSON"},
		{"remote new room owner", root, "/v2/rooms/" + esc(room.RoomID.String()), map[string]any{"new_room_user_id": "@x:elsewhere.example"}, 400, "M_INVALID_PARAM"},
		{"unknown delete id", root, "/v2/rooms/delete_status/nope", nil, 404, "M_NOT_FOUND"},
		{"no delete of the room", root, "/v2/rooms/" + esc(room.RoomID.String()) + "/delete_status", nil, 404, "M_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "DELETE"
			if tc.body == nil {
				method = "GET"
			}
			if status, body := adminCall(t, tc.cli, method, tc.path, tc.body); status != tc.status || body["errcode"] != tc.code {
				t.Fatalf("%d %v", status, body)
			}
		})
	}

	resp, err := sa.DeleteRoom(ctx, room.RoomID, synapseadmin.ReqDeleteRoom{Purge: true, Block: true, NewRoomUserID: root.UserID,
		RoomName: "Hinweis", Message: "Dieser Raum wurde geschlossen."})
	if err != nil || resp.DeleteID == "" {
		t.Fatalf("DeleteRoom: %v %+v", err, resp)
	}
	st := waitDelete(t, sa, resp.DeleteID)
	if st.Status != "complete" {
		t.Fatalf("delete: %+v", st)
	}
	res := st.ShutdownRoom
	kicked := []string{alice.UserID.String(), bob.UserID.String(), carol.UserID.String()}
	got := make([]string, 0, len(res.KickedUsers))
	for _, u := range res.KickedUsers {
		got = append(got, u.String())
	}
	slices.Sort(got)
	if !slices.Equal(got, kicked) || len(res.FailedToKickUsers) != 0 || res.NewRoomID == "" ||
		len(res.LocalAliases) != 1 || res.LocalAliases[0].String() != "#schwarzmarkt:"+string(root.UserID.Homeserver()) {
		t.Fatalf("shutdown_room: %+v", res)
	}
	if left := roomRows(t, srv.App.DB, room.RoomID.String(), roomNID, eventIDs); len(left) != 0 {
		t.Fatalf("rows of the purged room left: %v", left)
	}

	// By room: the one delete, with its id.
	status, body := adminCall(t, root, "GET", "/v2/rooms/"+esc(room.RoomID.String())+"/delete_status", nil)
	results, _ := body["results"].([]any)
	if first, _ := results[0].(map[string]any); status != 200 || len(results) != 1 || first["delete_id"] != resp.DeleteID || first["status"] != "complete" {
		t.Fatalf("delete_status by room: %d %v", status, body)
	}
	// The joined members are in the new room, where the alias points now;
	// the invitee is not.
	for _, tc := range []struct {
		cli    *mautrix.Client
		joined bool
	}{{alice, true}, {bob, true}, {carol, false}} {
		rooms, err := tc.cli.JoinedRooms(ctx)
		if err != nil || slices.Contains(rooms.JoinedRooms, res.NewRoomID) != tc.joined || slices.Contains(rooms.JoinedRooms, room.RoomID) {
			t.Fatalf("%s's rooms: %v %v", tc.cli.UserID, err, rooms)
		}
	}
	alias, err := alice.ResolveAlias(ctx, res.LocalAliases[0])
	if err != nil || alias.RoomID != res.NewRoomID {
		t.Fatalf("alias: %v %+v", err, alias)
	}
	msgs, err := alice.Messages(ctx, res.NewRoomID, "", "", mautrix.DirectionBackward, nil, 20)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range msgs.Chunk {
		found = found || (e.Type == event.EventMessage && e.Sender == root.UserID && strings.Contains(string(e.Content.VeryRaw), "geschlossen"))
	}
	if !found {
		t.Fatalf("the admin's message is not in the new room: %+v", msgs.Chunk)
	}
	// Gone and blocked.
	if status, body := adminCall(t, root, "GET", "/v1/rooms/"+esc(room.RoomID.String()), nil); status != 404 {
		t.Fatalf("purged room: %d %v", status, body)
	}
	if blocked, err := sa.GetRoomBlockStatus(ctx, room.RoomID); err != nil || !blocked.Block {
		t.Fatalf("block: %v %+v", err, blocked)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), nil); httpStatus(err) != 403 {
		t.Fatalf("join of the blocked room: %v", err)
	}
	// Audited: the delete, and the two refused for a bad body.
	_, audit := adminCall(t, root, "GET", "/v1/audit_log?action=room.delete&target="+esc(room.RoomID.String()), nil)
	entries, _ := audit["entries"].([]any)
	newest, _ := entries[0].(map[string]any)
	details, _ := newest["details"].(map[string]any)
	if len(entries) != 3 || newest["status"] != float64(200) || details["delete_id"] != resp.DeleteID || details["purge"] != true {
		t.Fatalf("audit log: %v", audit)
	}
}

// The old synchronous delete without purge: the members leave, the
// alias goes (there is no new room), the room stays in the database,
// out of the directory.
func TestAdminAPIDeleteRoomWithoutPurge(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	root := registerAdmin(t, srv, "shutroot")
	sa := &synapseadmin.Client{Client: root}
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Visibility: "public", RoomAliasName: "treffpunkt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), nil); err != nil {
		t.Fatal(err)
	}
	res, err := sa.DeleteRoomSync(ctx, room.RoomID, synapseadmin.ReqDeleteRoom{})
	if err != nil {
		t.Fatalf("DeleteRoomSync: %v", err)
	}
	// DeleteRoomSync's zero request leaves purge out: Synapse's default,
	// purge, applies. A second room is shut down with purge false.
	if len(res.KickedUsers) != 2 || res.NewRoomID != "" || len(res.LocalAliases) != 1 {
		t.Fatalf("shutdown: %+v", res)
	}
	second, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Visibility: "public", RoomAliasName: "zweiter"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := alice.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
	if err != nil {
		t.Fatal(err)
	}
	status, body := adminCall(t, root, "POST", "/v1/rooms/"+esc(second.RoomID.String())+"/delete", map[string]any{"purge": false})
	if kicked, _ := body["kicked_users"].([]any); status != 200 || len(kicked) != 1 || body["new_room_id"] != nil {
		t.Fatalf("v1 delete without purge: %d %v", status, body)
	}
	status, body = adminCall(t, root, "GET", "/v1/rooms/"+esc(second.RoomID.String()), nil)
	if status != 200 || body["joined_members"] != float64(0) || body["public"] != false {
		t.Fatalf("the room after a delete without purge: %d %v", status, body)
	}
	if _, err := alice.ResolveAlias(ctx, id.RoomAlias("#zweiter:"+string(root.UserID.Homeserver()))); httpStatus(err) != 404 {
		t.Fatalf("alias of the deleted room: %v", err)
	}
	sync, err := alice.SyncRequest(ctx, 0, before.NextBatch, "", false, event.PresenceOnline)
	if err != nil {
		t.Fatal(err)
	}
	if _, left := sync.Rooms.Leave[second.RoomID]; !left {
		t.Fatalf("alice's sync does not show the room as left: %+v", sync.Rooms)
	}
	if status, _ := adminCall(t, root, "GET", "/v1/rooms/"+esc(room.RoomID.String()), nil); status != 404 {
		t.Fatalf("the purged room: %d", status)
	}
}
