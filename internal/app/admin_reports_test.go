package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

// Reports filed with the client API's /report appear in the admin API's
// event_reports, in Synapse's shape, and can be deleted.
func TestAdminAPIEventReports(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	root := registerAdmin(t, srv, "reportroot")
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Meldestelle",
		RoomAliasName: "meldestelle"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), nil); err != nil {
		t.Fatal(err)
	}
	other, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := alice.SendText(ctx, room.RoomID, "bedenklich")
	if err != nil {
		t.Fatal(err)
	}
	own, err := bob.SendText(ctx, other.RoomID, "selbst")
	if err != nil {
		t.Fatal(err)
	}
	report := func(cli *mautrix.Client, path string, body map[string]any) {
		t.Helper()
		if status, resp := rawCall(t, cli, "POST", path, body); status != 200 {
			t.Fatalf("report %s: %d %v", path, status, resp)
		}
	}
	roomPath := "/rooms/" + esc(room.RoomID.String())
	report(bob, roomPath+"/report/"+esc(sent.EventID.String()), map[string]any{"reason": "Beleidigung"})
	report(bob, roomPath+"/report/"+esc(sent.EventID.String()), map[string]any{})
	report(bob, "/rooms/"+esc(other.RoomID.String())+"/report/"+esc(own.EventID.String()), map[string]any{"reason": "Test"})
	// Reports of rooms and users are not event reports.
	report(bob, roomPath+"/report", map[string]any{"reason": "Spam"})
	report(bob, "/users/"+esc(alice.UserID.String())+"/report", map[string]any{"reason": "Belästigung"})

	status, body := adminCall(t, root, "GET", "/v1/event_reports", nil)
	list, _ := body["event_reports"].([]any)
	if status != 200 || body["total"] != float64(3) || len(list) != 3 || body["next_token"] != nil {
		t.Fatalf("list: %d %v", status, body)
	}
	// Newest first by default.
	first := list[2].(map[string]any)
	want := map[string]any{"event_id": sent.EventID.String(), "room_id": room.RoomID.String(), "name": "Meldestelle",
		"canonical_alias": "#meldestelle:" + string(root.UserID.Homeserver()), "sender": alice.UserID.String(),
		"user_id": bob.UserID.String(), "reason": "Beleidigung"}
	for k, v := range want {
		if first[k] != v {
			t.Fatalf("report %s = %v, want %v: %v", k, first[k], v, first)
		}
	}
	if id, _ := first["id"].(float64); id <= 0 || first["received_ts"].(float64) <= 0 {
		t.Fatalf("report id and received_ts: %v", first)
	}
	if second := list[1].(map[string]any); second["reason"] != nil {
		t.Fatalf("a report without a reason: %v", second)
	}

	status, body = adminCall(t, root, "GET", "/v1/event_reports?dir=f&limit=2", nil)
	list, _ = body["event_reports"].([]any)
	if status != 200 || len(list) != 2 || body["next_token"] != float64(2) || body["total"] != float64(3) ||
		list[0].(map[string]any)["reason"] != "Beleidigung" {
		t.Fatalf("oldest first, two a page: %d %v", status, body)
	}
	status, body = adminCall(t, root, "GET", "/v1/event_reports?dir=f&from=2", nil)
	if list, _ = body["event_reports"].([]any); status != 200 || len(list) != 1 || body["next_token"] != nil ||
		list[0].(map[string]any)["reason"] != "Test" {
		t.Fatalf("second page: %d %v", status, body)
	}
	status, body = adminCall(t, root, "GET", "/v1/event_reports?room_id="+esc(other.RoomID.String()), nil)
	if list, _ = body["event_reports"].([]any); status != 200 || body["total"] != float64(1) || list[0].(map[string]any)["event_id"] != own.EventID.String() {
		t.Fatalf("by room: %d %v", status, body)
	}
	status, body = adminCall(t, root, "GET", "/v1/event_reports?user_id="+esc(alice.UserID.Localpart()), nil)
	if status != 200 || body["total"] != float64(0) {
		t.Fatalf("by reporter alice: %d %v", status, body)
	}
	status, body = adminCall(t, root, "GET", "/v1/event_reports?user_id=bob", nil)
	if status != 200 || body["total"] != float64(3) {
		t.Fatalf("by reporter containing bob: %d %v", status, body)
	}

	id := int64(first["id"].(float64))
	status, body = adminCall(t, root, "GET", fmt.Sprintf("/v1/event_reports/%d", id), nil)
	ev, _ := body["event_json"].(map[string]any)
	if status != 200 || body["event_id"] != sent.EventID.String() || body["name"] != "Meldestelle" || ev == nil ||
		ev["type"] != "m.room.message" || ev["sender"] != alice.UserID.String() {
		t.Fatalf("one report: %d %v", status, body)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/event_reports/abc", 400, "M_INVALID_PARAM"},
		{"GET", "/v1/event_reports/0", 400, "M_INVALID_PARAM"},
		{"GET", "/v1/event_reports/99999", 404, "M_NOT_FOUND"},
		{"DELETE", "/v1/event_reports/99999", 404, "M_NOT_FOUND"},
		{"GET", "/v1/event_reports?from=-1", 400, "M_INVALID_PARAM"},
		{"GET", "/v1/event_reports?dir=x", 400, "M_INVALID_PARAM"},
	} {
		if status, body := adminCall(t, root, tc.method, tc.path, nil); status != tc.status || body["errcode"] != tc.code {
			t.Fatalf("%s %s: %d %v", tc.method, tc.path, status, body)
		}
	}
	if status, _ := adminCall(t, alice, "GET", "/v1/event_reports", nil); status != 403 {
		t.Fatalf("alice lists reports: %d", status)
	}
	if status, _ := adminCall(t, alice, "DELETE", fmt.Sprintf("/v1/event_reports/%d", id), nil); status != 403 {
		t.Fatalf("alice deletes a report: %d", status)
	}

	if status, body := adminCall(t, root, "DELETE", fmt.Sprintf("/v1/event_reports/%d", id), nil); status != 200 {
		t.Fatalf("delete: %d %v", status, body)
	}
	if status, _ := adminCall(t, root, "GET", fmt.Sprintf("/v1/event_reports/%d", id), nil); status != 404 {
		t.Fatalf("deleted report: %d", status)
	}
	if _, body := adminCall(t, root, "GET", "/v1/event_reports", nil); body["total"] != float64(2) {
		t.Fatalf("after the delete: %v", body)
	}
	_, body = adminCall(t, root, "GET", "/v1/audit_log?action=report.delete", nil)
	entries, _ := body["entries"].([]any)
	if len(entries) != 2 {
		t.Fatalf("audit entries of report.delete (the unknown and the done; non-admins are refused before): %v", body)
	}
	if e := entries[0].(map[string]any); e["target"] != fmt.Sprint(id) || e["status"] != float64(200) {
		t.Fatalf("audit entry: %v", e)
	}
}
