package clientapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/config"
)

func TestRegisterDummyFlow(t *testing.T) {
	ts := newTestServer(t)
	first := ts.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "alice", "password": "pw"})
	ts.expect(first, http.StatusUnauthorized, "")
	if first.str("session") == "" || first.body["params"] == nil {
		t.Fatalf("401 without session or params: %s", first.raw)
	}
	if want := `[{"stages":["m.login.dummy"]}]`; !strings.Contains(first.raw, `"flows":`+want) {
		t.Errorf("flows: %s, want %s", first.raw, want)
	}
	if _, ok := first.body["completed"]; ok {
		t.Errorf("first challenge reports completed stages: %s", first.raw)
	}
	// The second round sends only auth: the first round's fields count.
	auth := map[string]any{"auth": map[string]any{"type": "m.login.dummy", "session": first.str("session")}}
	res := ts.do("POST", "/_matrix/client/v3/register", "", auth)
	ts.expect(res, http.StatusOK, "")
	if res.str("user_id") != "@alice:test" || res.str("access_token") == "" || res.str("device_id") == "" || res.str("home_server") != "test" {
		t.Fatalf("register response: %s", res.raw)
	}
	// Retrying a finished session gives the same answer.
	again := ts.do("POST", "/_matrix/client/v3/register", "", auth)
	ts.expect(again, http.StatusOK, "")
	if again.str("user_id") != "@alice:test" {
		t.Errorf("retry registered %s", again.str("user_id"))
	}
	who := ts.do("GET", "/_matrix/client/v3/account/whoami", res.str("access_token"), nil)
	ts.expect(who, http.StatusOK, "")
	if who.str("user_id") != "@alice:test" || who.str("device_id") != res.str("device_id") || who.body["is_guest"] != false {
		t.Errorf("whoami: %s", who.raw)
	}
	// An unknown session is refused.
	bad := ts.do("POST", "/_matrix/client/v3/register", "", map[string]any{"auth": map[string]any{"type": "m.login.dummy", "session": "nope"}})
	ts.expect(bad, http.StatusBadRequest, "M_UNKNOWN")
}

func TestRegister(t *testing.T) {
	ts := newTestServer(t)
	ts.register("taken")
	dummy := map[string]any{"type": "m.login.dummy"}
	tests := []struct {
		name     string
		path     string
		body     any
		status   int
		errcode  string
		wantUser string
		noToken  bool
	}{
		{"r0 prefix", "/_matrix/client/r0/register", map[string]any{"auth": dummy, "username": "r0user", "password": "pw"}, 200, "", "@r0user:test", false},
		{"downcases", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": "user-UPPER", "password": "pw"}, 200, "", "@user-upper:test", false},
		{"symbols allowed", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": "a._=-/+b", "password": "pw"}, 200, "", "@a._=-/+b:test", false},
		{"device id kept", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": "dev", "password": "pw", "device_id": "my_device"}, 200, "", "@dev:test", false},
		{"no username", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "password": "pw"}, 200, "", "", false},
		{"inhibit login", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": "quiet", "password": "pw", "inhibit_login": true}, 200, "", "@quiet:test", true},
		{"guest", "/_matrix/client/v3/register?kind=guest", map[string]any{"username": "ignored", "initial_device_display_name": "Guest phone"}, 200, "", "", false},
		{"taken", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": "taken", "password": "pw"}, 400, "M_USER_IN_USE", "", false},
		{"taken before auth", "/_matrix/client/v3/register", map[string]any{"username": "taken", "password": "pw"}, 400, "M_USER_IN_USE", "", false},
		{"comma", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": "us,er", "password": "pw"}, 400, "M_INVALID_USERNAME", "", false},
		{"colon", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": "a:test", "password": "pw"}, 400, "M_INVALID_USERNAME", "", false},
		{"non-ascii", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": "é", "password": "pw"}, 400, "M_INVALID_USERNAME", "", false},
		{"numeric", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": "1234", "password": "pw"}, 400, "M_INVALID_USERNAME", "", false},
		{"too long", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": strings.Repeat("a", 250), "password": "pw"}, 400, "M_INVALID_USERNAME", "", false},
		{"no password", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": "nopw"}, 400, "M_MISSING_PARAM", "", false},
		{"password stage not offered", "/_matrix/client/v3/register", map[string]any{"auth": map[string]any{"type": "m.login.password"}, "username": "pwstage", "password": "pw"}, 401, "M_UNRECOGNIZED", "", false},
		{"bad kind", "/_matrix/client/v3/register?kind=admin", map[string]any{}, 400, "M_INVALID_PARAM", "", false},
		{"not json", "/_matrix/client/v3/register", "{nope", 400, "M_NOT_JSON", "", false},
		{"array", "/_matrix/client/v3/register", "[]", 400, "M_BAD_JSON", "", false},
		{"invalid utf-8", "/_matrix/client/v3/register", "{ \"username\": \"a\x81\" }", 400, "M_NOT_JSON", "", false},
		{"wrong type", "/_matrix/client/v3/register", map[string]any{"auth": dummy, "username": 5, "password": "pw"}, 400, "M_BAD_JSON", "", false},
		{"auth not an object", "/_matrix/client/v3/register", map[string]any{"auth": "dummy", "username": "x", "password": "pw"}, 400, "M_BAD_JSON", "", false},
		{"too large", "/_matrix/client/v3/register", `{"password":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "M_TOO_LARGE", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.do("POST", tc.path, "", tc.body)
			ts.expect(res, tc.status, tc.errcode)
			if tc.status != 200 {
				return
			}
			if tc.wantUser != "" && res.str("user_id") != tc.wantUser {
				t.Errorf("user_id = %s, want %s", res.str("user_id"), tc.wantUser)
			}
			if !strings.HasPrefix(res.str("user_id"), "@") {
				t.Errorf("user_id = %q", res.str("user_id"))
			}
			_, hasToken := res.body["access_token"]
			_, hasDevice := res.body["device_id"]
			if hasToken == tc.noToken || hasDevice == tc.noToken {
				t.Errorf("token/device present = %v/%v: %s", hasToken, hasDevice, res.raw)
			}
			if m, ok := tc.body.(map[string]any); ok && m["device_id"] != nil && res.str("device_id") != m["device_id"] {
				t.Errorf("device_id = %s, want %v", res.str("device_id"), m["device_id"])
			}
		})
	}
}

func TestRegisterDisabled(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.EnableRegistration = false
		c.AllowGuestAccess = false
	})
	ts.expect(ts.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "x", "password": "pw"}), http.StatusForbidden, "M_FORBIDDEN")
	ts.expect(ts.do("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{}), http.StatusForbidden, "M_FORBIDDEN")
}

func TestRegisterAvailable(t *testing.T) {
	ts := newTestServer(t)
	ts.register("taken")
	tests := []struct {
		query   string
		status  int
		errcode string
	}{
		{"?username=free", 200, ""},
		{"?username=Free", 200, ""},
		{"?username=taken", 400, "M_USER_IN_USE"},
		{"?username=TAKEN", 400, "M_USER_IN_USE"},
		{"?username=bad%20name", 400, "M_INVALID_USERNAME"},
		{"", 400, "M_MISSING_PARAM"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			res := ts.do("GET", "/_matrix/client/v3/register/available"+tc.query, "", nil)
			ts.expect(res, tc.status, tc.errcode)
			if tc.status == 200 && res.body["available"] != true {
				t.Errorf("body %s", res.raw)
			}
		})
	}
}

// Without an SMTP server no address can be validated.
func TestThreepidRequestTokensWithoutEmail(t *testing.T) {
	ts := newTestServer(t)
	body := map[string]any{"client_secret": "s", "email": "a@example.org", "send_attempt": 1}
	tests := []struct {
		path    string
		body    any
		status  int
		errcode string
	}{
		{"/_matrix/client/v3/register/email/requestToken", body, 403, "M_THREEPID_DENIED"},
		{"/_matrix/client/v3/register/msisdn/requestToken", body, 403, "M_THREEPID_DENIED"},
		{"/_matrix/client/v3/account/3pid/email/requestToken", body, 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED"},
		{"/_matrix/client/v3/account/3pid/msisdn/requestToken", body, 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED"},
		{"/_matrix/client/v3/account/password/email/requestToken", body, 403, "M_THREEPID_DENIED"},
		{"/_matrix/client/v3/account/password/msisdn/requestToken", body, 403, "M_THREEPID_DENIED"},
		{"/_matrix/client/v3/register/email/requestToken", "nope", 400, "M_NOT_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			ts.expect(ts.do("POST", tc.path, "", tc.body), tc.status, tc.errcode)
		})
	}
}

func TestRegisterUpgradeGuest(t *testing.T) {
	ts := newTestServer(t)
	newGuest := func() (userID, localpart, token string) {
		res := ts.do("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{})
		ts.expect(res, http.StatusOK, "")
		userID = res.str("user_id")
		return userID, strings.TrimPrefix(strings.Split(userID, ":")[0], "@"), res.str("access_token")
	}
	user := ts.register("fulluser")
	dummy := map[string]any{"type": "m.login.dummy"}
	_, otherLocal, _ := newGuest()

	tests := []struct {
		name    string
		body    func(localpart, token string) map[string]any
		status  int
		errcode string
	}{
		{"other guest's username", func(_, token string) map[string]any {
			return map[string]any{"auth": dummy, "username": otherLocal, "password": "pw", "guest_access_token": token}
		}, 403, "M_FORBIDDEN"},
		{"unknown token", func(l, _ string) map[string]any {
			return map[string]any{"auth": dummy, "username": l, "password": "pw", "guest_access_token": "nope"}
		}, 403, "M_FORBIDDEN"},
		{"full user's token", func(_, _ string) map[string]any {
			return map[string]any{"auth": dummy, "username": "fulluser", "password": "pw", "guest_access_token": user.token}
		}, 403, "M_FORBIDDEN"},
		{"no username", func(_, token string) map[string]any {
			return map[string]any{"auth": dummy, "password": "pw", "guest_access_token": token}
		}, 400, "M_MISSING_PARAM"},
		{"no password", func(l, token string) map[string]any {
			return map[string]any{"auth": dummy, "username": l, "guest_access_token": token}
		}, 400, "M_MISSING_PARAM"},
		{"needs auth", func(l, token string) map[string]any {
			return map[string]any{"username": l, "password": "pw", "guest_access_token": token}
		}, 401, ""},
		{"upgrades", func(l, token string) map[string]any {
			return map[string]any{"auth": dummy, "username": l, "password": "pw", "guest_access_token": token}
		}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			guest, localpart, guestToken := newGuest()
			res := ts.do("POST", "/_matrix/client/v3/register", "", tc.body(localpart, guestToken))
			ts.expect(res, tc.status, tc.errcode)
			if tc.status != 200 {
				who := ts.do("GET", "/_matrix/client/v3/account/whoami", guestToken, nil)
				if who.body["is_guest"] != true {
					t.Errorf("refused upgrade changed the guest: %s", who.raw)
				}
				return
			}
			if res.str("user_id") != guest || res.str("access_token") == "" {
				t.Fatalf("upgrade response: %s", res.raw)
			}
			for _, token := range []string{res.str("access_token"), guestToken} {
				who := ts.do("GET", "/_matrix/client/v3/account/whoami", token, nil)
				if who.str("user_id") != guest || who.body["is_guest"] != false {
					t.Errorf("whoami after upgrade: %s", who.raw)
				}
			}
			// The password now logs in, and the guest cannot upgrade twice.
			ts.login(account{userID: guest, password: "pw"}, "LAPTOP")
			again := ts.do("POST", "/_matrix/client/v3/register", "", tc.body(localpart, guestToken))
			ts.expect(again, http.StatusForbidden, "M_FORBIDDEN")
		})
	}
}
