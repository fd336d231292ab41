package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

// An admin's rate limit override replaces the configured per-user
// limits of the user's sends, and its removal brings them back.
func TestAdminAPIOverrideRatelimit(t *testing.T) {
	t.Parallel()
	srv := apptest.StartWith(t, limitedConfig(t, func(c *config.Config) {
		c.RCMessage = config.RateLimit{PerSecond: 0.01, BurstCount: 2}
	}))
	ctx := context.Background()
	admin := registerAdmin(t, srv, "rateadmin")
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	u := "/v1/users/" + alice.UserID.String() + "/override_ratelimit"
	txn := 0
	// sends sends n messages as alice and lists their statuses.
	sends := func(n int) string {
		out := ""
		for i := 0; i < n; i++ {
			txn++
			resp := sendRaw(t, srv, alice, room.RoomID.String(), fmt.Sprint("t", txn))
			out += fmt.Sprint(resp.StatusCode, " ")
		}
		return out
	}
	if got := sends(3); got != "200 200 429 " {
		t.Fatalf("configured limit: %s", got)
	}
	if status, body := adminCall(t, admin, "GET", u, nil); status != 200 || len(body) != 0 {
		t.Fatalf("no override: %d %v", status, body)
	}

	status, body := adminCall(t, admin, "POST", u, map[string]any{"messages_per_second": 0})
	if status != 200 || body["messages_per_second"] != float64(0) || body["burst_count"] != float64(0) {
		t.Fatalf("set: %d %v", status, body)
	}
	if got := sends(5); got != "200 200 200 200 200 " {
		t.Fatalf("without a limit: %s", got)
	}
	if status, _ := adminCall(t, admin, "POST", u, map[string]any{"messages_per_second": 1, "burst_count": 1}); status != 200 {
		t.Fatal("set 1/1:", status)
	}
	if got := sends(2); got != "200 429 " {
		t.Fatalf("override of 1 per second, burst 1: %s", got)
	}
	if status, body := adminCall(t, admin, "GET", u, nil); status != 200 || body["messages_per_second"] != float64(1) || body["burst_count"] != float64(1) {
		t.Fatalf("get: %d %v", status, body)
	}
	if status, _ := adminCall(t, admin, "DELETE", u, nil); status != 200 {
		t.Fatal("delete:", status)
	}
	if got := sends(1); got != "429 " {
		t.Fatalf("configured limit again: %s", got)
	}
	if status, body := adminCall(t, admin, "GET", u, nil); status != 200 || len(body) != 0 {
		t.Fatalf("after delete: %d %v", status, body)
	}

	for _, tc := range []struct {
		name, method, path string
		body               any
		cli                *mautrix.Client
		status             int
		code               string
	}{
		{"negative rate", "POST", u, map[string]any{"messages_per_second": -1}, admin, 400, "M_INVALID_PARAM"},
		{"rate not a number", "POST", u, map[string]any{"burst_count": "viele"}, admin, 400, "M_INVALID_PARAM"},
		{"unknown user", "GET", "/v1/users/@nobody:localhost/override_ratelimit", nil, admin, 404, "M_NOT_FOUND"},
		{"set for an unknown user", "POST", "/v1/users/@nobody:localhost/override_ratelimit", map[string]any{}, admin, 404, "M_NOT_FOUND"},
		{"remote user", "GET", "/v1/users/@x:elsewhere.example/override_ratelimit", nil, admin, 400, "M_INVALID_PARAM"},
		{"not an admin", "POST", u, map[string]any{}, alice, 403, "M_FORBIDDEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := adminCall(t, tc.cli, tc.method, tc.path, tc.body)
			if status != tc.status || body["errcode"] != tc.code {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	// Two changes and two refused ones (the non-admin's is not an action).
	status, body = adminCall(t, admin, "GET", "/v1/audit_log?action=user.override_ratelimit&target="+alice.UserID.String(), nil)
	if status != 200 || body["total"] != float64(4) {
		t.Fatalf("audit: %d %v", status, body)
	}
}
