package clientapi

import (
	"net/http"
	"testing"
)

func TestChangePassword(t *testing.T) {
	tests := []struct {
		name          string
		logoutDevices any
		otherSurvives bool
	}{
		{"logs out other devices by default", nil, false},
		{"keeps other devices on request", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			alice := ts.register("alice")
			other := ts.login(alice, "OTHER")
			body := map[string]any{"new_password": "new password", "auth": passwordAuth(alice, alice.password, "")}
			if tc.logoutDevices != nil {
				body["logout_devices"] = tc.logoutDevices
			}
			ts.expect(ts.do("POST", "/_matrix/client/v3/account/password", alice.token, body), 200, "")
			ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami", alice.token, nil), 200, "")
			status, code := 401, "M_UNKNOWN_TOKEN"
			if tc.otherSurvives {
				status, code = 200, ""
			}
			ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami", other.token, nil), status, code)

			login := func(pw string) response {
				return ts.do("POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": pw})
			}
			ts.expect(login(alice.password), 403, "M_FORBIDDEN")
			ts.expect(login("new password"), 200, "")
		})
	}
}

func TestChangePasswordErrors(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	guest := ts.do("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{})
	tests := []struct {
		name    string
		token   string
		body    any
		status  int
		errcode string
	}{
		{"no auth", alice.token, map[string]any{"new_password": "x"}, 401, ""},
		{"wrong password", alice.token, map[string]any{"new_password": "x", "auth": passwordAuth(alice, "wrong", "")}, 401, "M_FORBIDDEN"},
		{"no new password", alice.token, map[string]any{"auth": passwordAuth(alice, alice.password, "")}, 400, "M_MISSING_PARAM"},
		{"guest", guest.str("access_token"), map[string]any{"new_password": "x"}, 403, "M_GUEST_ACCESS_FORBIDDEN"},
		{"not json", alice.token, "x", 400, "M_NOT_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts.expect(ts.do("POST", "/_matrix/client/v3/account/password", tc.token, tc.body), tc.status, tc.errcode)
		})
	}
}

func TestDeactivate(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	other := ts.login(alice, "OTHER")

	wrong := ts.do("POST", "/_matrix/client/v3/account/deactivate", alice.token, map[string]any{"auth": passwordAuth(alice, "wrong", "")})
	ts.expect(wrong, http.StatusUnauthorized, "M_FORBIDDEN")
	for _, key := range []string{"error", "errcode", "params", "completed", "flows", "session"} {
		if _, ok := wrong.body[key]; !ok {
			t.Errorf("failed deactivation lacks %s: %s", key, wrong.raw)
		}
	}

	res := ts.do("POST", "/_matrix/client/v3/account/deactivate", alice.token, map[string]any{"auth": passwordAuth(alice, alice.password, "")})
	ts.expect(res, 200, "")
	if res.str("id_server_unbind_result") != "no-support" {
		t.Errorf("response %s", res.raw)
	}
	if len(ts.deactivatedUser) != 1 || ts.deactivatedUser[0] != "@alice:test" {
		t.Errorf("onDeactivate calls: %v", ts.deactivatedUser)
	}
	for _, tok := range []string{alice.token, other.token} {
		ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami", tok, nil), 401, "M_UNKNOWN_TOKEN")
	}
	login := ts.do("POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": alice.password})
	ts.expect(login, 403, "M_USER_DEACTIVATED")
	// The user id stays taken.
	ts.expect(ts.do("GET", "/_matrix/client/v3/register/available?username=alice", "", nil), 400, "M_USER_IN_USE")
}

func TestThreepids(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	res := ts.do("GET", "/_matrix/client/v3/account/3pid", alice.token, nil)
	ts.expect(res, 200, "")
	if res.raw != `{"threepids":[]}` {
		t.Errorf("3pids = %s", res.raw)
	}
}

func TestGuestAccess(t *testing.T) {
	ts := newTestServer(t)
	res := ts.do("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{"initial_device_display_name": "Guest phone"})
	ts.expect(res, 200, "")
	token, user := res.str("access_token"), res.str("user_id")
	who := ts.do("GET", "/_matrix/client/v3/account/whoami", token, nil)
	if who.body["is_guest"] != true {
		t.Errorf("whoami: %s", who.raw)
	}
	dev := ts.do("GET", "/_matrix/client/v3/devices/"+res.str("device_id"), token, nil)
	if dev.str("display_name") != "Guest phone" {
		t.Errorf("guest device: %s", dev.raw)
	}
	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		status  int
		errcode string
	}{
		{"display name", "PUT", "/_matrix/client/v3/profile/" + user + "/displayname", map[string]any{"displayname": "Guesty"}, 200, ""},
		{"avatar", "PUT", "/_matrix/client/v3/profile/" + user + "/avatar_url", map[string]any{"avatar_url": "mxc://test/a"}, 403, "M_GUEST_ACCESS_FORBIDDEN"},
		{"account data", "PUT", "/_matrix/client/v3/user/" + user + "/account_data/x.y", map[string]any{}, 403, "M_GUEST_ACCESS_FORBIDDEN"},
		{"devices", "GET", "/_matrix/client/v3/devices", nil, 200, ""},
		{"deactivate", "POST", "/_matrix/client/v3/account/deactivate", map[string]any{}, 403, "M_GUEST_ACCESS_FORBIDDEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts.expect(ts.do(tc.method, tc.path, token, tc.body), tc.status, tc.errcode)
		})
	}
}

func TestWhois(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	bob := ts.register("bob")
	admin := ts.registerWithSecret("boss", "pw", true)

	res := ts.do("GET", "/_matrix/client/v3/admin/whois/"+alice.userID, alice.token, nil)
	ts.expect(res, 200, "")
	if res.str("user_id") != alice.userID {
		t.Errorf("whois: %s", res.raw)
	}
	devices := res.body["devices"].(map[string]any)
	conns := devices[alice.deviceID].(map[string]any)["sessions"].([]any)[0].(map[string]any)["connections"].([]any)
	if len(conns) != 1 {
		t.Fatalf("connections: %s", res.raw)
	}
	c := conns[0].(map[string]any)
	if c["ip"] == "" || c["last_seen"] == nil || c["user_agent"] != "clientapi-test" {
		t.Errorf("connection: %v", c)
	}

	ts.expect(ts.do("GET", "/_matrix/client/v3/admin/whois/"+alice.userID, bob.token, nil), 403, "M_FORBIDDEN")
	ts.expect(ts.do("GET", "/_matrix/client/v3/admin/whois/"+alice.userID, admin.token, nil), 200, "")
	ts.expect(ts.do("GET", "/_matrix/client/v3/admin/whois/not-a-user", admin.token, nil), 400, "M_INVALID_PARAM")
}
