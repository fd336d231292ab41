package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// The federation destinations as synapse-admin shows them: the send
// queue's state per server, a server's rooms, and reset_connection
// ending a backoff.
func TestAdminAPIFederationDestinations(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	root := registerAdmin(t, hs1, "fedroot")
	alice, bob, room := federatedRoom(t, hs1, hs2)
	if _, err := alice.SendText(ctx, room, "erste Nachricht"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, room, "erste Nachricht")
	dest := "/v1/federation/destinations/" + esc(string(hs2.ServerName))

	// waitDest polls the destination until ok says it is as wanted.
	waitDest := func(what string, ok func(map[string]any) bool) map[string]any {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			status, body := adminCall(t, root, "GET", dest, nil)
			if status == 200 && ok(body) {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d %v", what, status, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	d := waitDest("delivered", func(b map[string]any) bool { return b["last_successful_stream_ordering"] != nil })
	if d["destination"] != string(hs2.ServerName) || d["failure_ts"] != nil || d["retry_last_ts"] != float64(0) || d["retry_interval"] != float64(0) {
		t.Fatalf("healthy destination: %v", d)
	}
	status, body := adminCall(t, root, "GET", "/v1/federation/destinations", nil)
	list, _ := body["destinations"].([]any)
	if status != 200 || body["total"] != float64(1) || len(list) != 1 {
		t.Fatalf("list: %d %v", status, body)
	}
	for _, q := range []string{"?destination=" + esc(string(hs2.ServerName)[:3]), "?order_by=failure_ts&dir=b", "?limit=1&from=0"} {
		if status, body := adminCall(t, root, "GET", "/v1/federation/destinations"+q, nil); status != 200 || body["total"] != float64(1) {
			t.Fatalf("list%s: %d %v", q, status, body)
		}
	}
	if status, body := adminCall(t, root, "GET", "/v1/federation/destinations?destination=nomatch", nil); status != 200 || body["total"] != float64(0) {
		t.Fatalf("filtered out: %d %v", status, body)
	}
	status, body = adminCall(t, root, "GET", dest+"/rooms", nil)
	rooms, _ := body["rooms"].([]any)
	if r, _ := rooms[0].(map[string]any); status != 200 || body["total"] != float64(1) || r["room_id"] != room.String() || r["stream_ordering"] == float64(0) {
		t.Fatalf("rooms: %d %v", status, body)
	}
	if status, body := adminCall(t, root, "POST", dest+"/reset_connection", map[string]any{}); status != 400 {
		t.Fatalf("reset without a backoff: %d %v", status, body)
	}

	// hs2 goes away: the queue backs off.
	hs2.Stop(t)
	if _, err := alice.SendText(ctx, room, "während der Störung"); err != nil {
		t.Fatal(err)
	}
	d = waitDest("failing", func(b map[string]any) bool { return b["failure_ts"] != nil })
	if d["retry_last_ts"] == float64(0) || d["retry_interval"] == float64(0) {
		t.Fatalf("failing destination: %v", d)
	}
	hs2.Start(t)
	if status, body := adminCall(t, root, "POST", dest+"/reset_connection", map[string]any{}); status != 200 {
		t.Fatalf("reset: %d %v", status, body)
	}
	waitForMessage(t, bob, room, "während der Störung")
	waitDest("recovered", func(b map[string]any) bool { return b["failure_ts"] == nil })
	_, audit := adminCall(t, root, "GET", "/v1/audit_log?action=federation.reset_connection", nil)
	if entries, _ := audit["entries"].([]any); len(entries) != 2 {
		t.Fatalf("audit log: %v", audit)
	}

	for _, tc := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"unknown destination", "/v1/federation/destinations/unknown.example", 404, "M_NOT_FOUND"},
		{"rooms of an unknown destination", "/v1/federation/destinations/unknown.example/rooms", 404, "M_NOT_FOUND"},
		{"bad order", "/v1/federation/destinations?order_by=size", 400, "M_INVALID_PARAM"},
		{"bad from", "/v1/federation/destinations?from=-1", 400, "M_INVALID_PARAM"},
		{"bad limit", "/v1/federation/destinations?limit=x", 400, "M_INVALID_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := adminCall(t, root, "GET", tc.path, nil); status != tc.status || body["errcode"] != tc.code {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
	if status, _ := adminCall(t, alice, "GET", "/v1/federation/destinations", nil); status != 403 {
		t.Fatalf("alice: %d", status)
	}
}
