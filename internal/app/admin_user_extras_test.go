package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

// What the admin API shows of a user beyond the account, and logging in
// as a user.
func TestAdminAPIUserExtras(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	admin := registerAdmin(t, srv, "extrasadmin")
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	left, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.LeaveRoom(ctx, left.RoomID); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetAccountData(ctx, "org.example.settings", map[string]any{"theme": "dark"}); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetRoomAccountData(ctx, room.RoomID, "org.example.room", map[string]any{"pinned": true}); err != nil {
		t.Fatal(err)
	}
	if status, body := rawCall(t, alice, "POST", "/pushers/set", map[string]any{"kind": "http", "app_id": "org.example.app",
		"app_display_name": "Beispiel", "device_display_name": "Telefon", "pushkey": "key-1", "lang": "de",
		"data": map[string]any{"url": "https://push.example.org/_matrix/push/v1/notify"}}); status != 200 {
		t.Fatalf("set pusher: %d %v", status, body)
	}
	u := "/v1/users/" + alice.UserID.String()

	t.Run("memberships", func(t *testing.T) {
		status, body := adminCall(t, admin, "GET", u+"/memberships", nil)
		ms, _ := body["memberships"].(map[string]any)
		if status != 200 || ms[room.RoomID.String()] != "join" || ms[left.RoomID.String()] != "leave" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("pushers", func(t *testing.T) {
		status, body := adminCall(t, admin, "GET", u+"/pushers", nil)
		ps, _ := body["pushers"].([]any)
		if status != 200 || body["total"] != float64(1) || len(ps) != 1 {
			t.Fatalf("%d %v", status, body)
		}
		if p, _ := ps[0].(map[string]any); p["pushkey"] != "key-1" || p["app_display_name"] != "Beispiel" {
			t.Fatalf("%v", p)
		}
	})
	t.Run("account data", func(t *testing.T) {
		status, body := adminCall(t, admin, "GET", u+"/accountdata", nil)
		ad, _ := body["account_data"].(map[string]any)
		global, _ := ad["global"].(map[string]any)
		rooms, _ := ad["rooms"].(map[string]any)
		inRoom, _ := rooms[room.RoomID.String()].(map[string]any)
		if status != 200 || fmt.Sprint(global["org.example.settings"]) != "map[theme:dark]" ||
			fmt.Sprint(inRoom["org.example.room"]) != "map[pinned:true]" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			cli    *mautrix.Client
			method string
			path   string
			status int
			code   string
		}{
			{"memberships as a non-admin", bob, "GET", u + "/memberships", 403, "M_FORBIDDEN"},
			{"pushers as a non-admin", bob, "GET", u + "/pushers", 403, "M_FORBIDDEN"},
			{"login as a non-admin", bob, "POST", u + "/login", 403, "M_FORBIDDEN"},
			{"memberships of an unknown user", admin, "GET", "/v1/users/@nobody:localhost/memberships", 404, "M_NOT_FOUND"},
			{"pushers of an unknown user", admin, "GET", "/v1/users/@nobody:localhost/pushers", 404, "M_NOT_FOUND"},
			{"account data of an unknown user", admin, "GET", "/v1/users/@nobody:localhost/accountdata", 404, "M_NOT_FOUND"},
			{"login as an unknown user", admin, "POST", "/v1/users/@nobody:localhost/login", 404, "M_NOT_FOUND"},
			{"login as a remote user", admin, "POST", "/v1/users/@alice:elsewhere.example/login", 400, "M_INVALID_PARAM"},
			{"login as oneself", admin, "POST", "/v1/users/" + admin.UserID.String() + "/login", 400, "M_INVALID_PARAM"},
			{"unknown address", admin, "GET", "/v1/threepid/email/users/nobody@example.org", 404, "M_NOT_FOUND"},
			{"user reports as a non-admin", bob, "GET", "/v1/user_reports", 403, "M_FORBIDDEN"},
			{"user reports, bad from", admin, "GET", "/v1/user_reports?from=x", 400, "M_INVALID_PARAM"},
			{"unknown user report", admin, "GET", "/v1/user_reports/999", 404, "M_NOT_FOUND"},
			{"bad user report id", admin, "GET", "/v1/user_reports/abc", 400, "M_INVALID_PARAM"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var body any
				if tc.method == "POST" {
					body = map[string]any{}
				}
				status, out := adminCall(t, tc.cli, tc.method, tc.path, body)
				if status != tc.status || out["errcode"] != tc.code {
					t.Fatalf("%d %v, want %d %s", status, out, tc.status, tc.code)
				}
			})
		}
	})

	t.Run("login as the user", func(t *testing.T) {
		if status, body := adminCall(t, admin, "POST", u+"/login", map[string]any{"valid_until_ms": time.Now().Add(-time.Minute).UnixMilli()}); status != 400 {
			t.Fatalf("valid_until_ms in the past: %d %v", status, body)
		}
		until := time.Now().Add(time.Hour).UnixMilli()
		status, body := adminCall(t, admin, "POST", u+"/login", map[string]any{"valid_until_ms": until})
		token, _ := body["access_token"].(string)
		if status != 200 || token == "" {
			t.Fatalf("%d %v", status, body)
		}
		as, _ := mautrix.NewClient(srv.URL, "", token)
		who, err := as.Whoami(ctx)
		if err != nil || who.UserID != alice.UserID {
			t.Fatalf("whoami with the token: %v (%v)", who, err)
		}
		// The login is a device of alice's, named after the admin.
		devs, err := alice.GetDevicesInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		named := false
		for _, d := range devs.Devices {
			named = named || (d.DeviceID == who.DeviceID && d.DisplayName == "Admin login by "+admin.UserID.String())
		}
		if !named {
			t.Fatalf("devices %+v", devs.Devices)
		}
		status, body = adminCall(t, admin, "GET", "/v1/audit_log?action=user.login_as&target="+alice.UserID.String(), nil)
		entries, _ := body["entries"].([]any)
		if status != 200 || len(entries) != 2 {
			t.Fatalf("audit: %d %v", status, body)
		}
		if e, _ := entries[0].(map[string]any); e["admin"] != admin.UserID.String() || e["status"] != float64(200) ||
			fmt.Sprint(e["details"]) == "" || fmt.Sprint(e["details"]) == fmt.Sprint(map[string]any{}) {
			t.Fatalf("audit entry %v", e)
		}
	})

	t.Run("user reports", func(t *testing.T) {
		for _, reason := range []string{"spam", "beleidigend"} {
			if status, body := rawCall(t, alice, "POST", "/users/"+bob.UserID.String()+"/report", map[string]any{"reason": reason}); status != 200 {
				t.Fatalf("report: %d %v", status, body)
			}
		}
		status, body := adminCall(t, admin, "GET", "/v1/user_reports?limit=1", nil)
		list, _ := body["user_reports"].([]any)
		if status != 200 || body["total"] != float64(2) || len(list) != 1 || body["next_token"] != float64(1) {
			t.Fatalf("list: %d %v", status, body)
		}
		newest, _ := list[0].(map[string]any)
		if newest["reason"] != "beleidigend" || newest["user_id"] != alice.UserID.String() || newest["target_user_id"] != bob.UserID.String() {
			t.Fatalf("report %v", newest)
		}
		if _, body := adminCall(t, admin, "GET", "/v1/user_reports?target_user_id=alice", nil); body["total"] != float64(0) {
			t.Fatalf("filtered by target: %v", body)
		}
		rid := fmt.Sprint(int64(newest["id"].(float64)))
		if status, body := adminCall(t, admin, "GET", "/v1/user_reports/"+rid, nil); status != 200 || body["reason"] != "beleidigend" {
			t.Fatalf("get: %d %v", status, body)
		}
		if status, _ := adminCall(t, admin, "DELETE", "/v1/user_reports/"+rid, nil); status != 200 {
			t.Fatal("delete", status)
		}
		if status, _ := adminCall(t, admin, "DELETE", "/v1/user_reports/"+rid, nil); status != 404 {
			t.Fatal("delete again", status)
		}
		// Event reports do not show reports of users.
		if _, body := adminCall(t, admin, "GET", "/v1/event_reports", nil); body["total"] != float64(0) {
			t.Fatalf("event reports: %v", body)
		}
	})
}
