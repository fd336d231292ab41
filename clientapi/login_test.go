package clientapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestLoginFlows(t *testing.T) {
	ts := newTestServer(t)
	res := ts.do("GET", "/_matrix/client/v3/login", "", nil)
	ts.expect(res, http.StatusOK, "")
	if want := `{"flows":[{"type":"m.login.password"}]}`; res.raw != want {
		t.Errorf("flows = %s, want %s", res.raw, want)
	}
}

func TestLogin(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	id := func(user string) map[string]any { return map[string]any{"type": "m.id.user", "user": user} }
	tests := []struct {
		name       string
		body       any
		status     int
		errcode    string
		wantDevice string
	}{
		{"full user id", map[string]any{"type": "m.login.password", "identifier": id("@alice:test"), "password": alice.password}, 200, "", ""},
		{"localpart", map[string]any{"type": "m.login.password", "identifier": id("alice"), "password": alice.password}, 200, "", ""},
		{"upper case", map[string]any{"type": "m.login.password", "identifier": id("@ALICE:test"), "password": alice.password}, 200, "", ""},
		{"legacy user field", map[string]any{"type": "m.login.password", "user": "alice", "password": alice.password}, 200, "", ""},
		{"device id", map[string]any{"type": "m.login.password", "identifier": id("alice"), "password": alice.password, "device_id": "my_super_id"}, 200, "", "my_super_id"},
		{"wrong password", map[string]any{"type": "m.login.password", "identifier": id("alice"), "password": "wrong"}, 403, "M_FORBIDDEN", ""},
		{"unknown user", map[string]any{"type": "m.login.password", "identifier": id("i-ought-not-to-exist"), "password": "x"}, 403, "M_FORBIDDEN", ""},
		{"remote user", map[string]any{"type": "m.login.password", "identifier": id("@alice:elsewhere"), "password": alice.password}, 403, "M_FORBIDDEN", ""},
		{"impossible localpart", map[string]any{"type": "m.login.password", "identifier": id("a:b:c"), "password": "x"}, 403, "M_FORBIDDEN", ""},
		{"malformed user id", map[string]any{"type": "m.login.password", "identifier": id("@nocolon"), "password": "x"}, 400, "M_INVALID_PARAM", ""},
		{"third party", map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.thirdparty", "medium": "email", "address": "a@b.c"}, "password": "x"}, 403, "M_FORBIDDEN", ""},
		{"legacy third party", map[string]any{"type": "m.login.password", "medium": "email", "address": "a@b.c", "password": "x"}, 403, "M_FORBIDDEN", ""},
		{"unknown identifier", map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.weird"}, "password": "x"}, 400, "M_UNKNOWN", ""},
		{"no identifier", map[string]any{"type": "m.login.password", "password": "x"}, 400, "M_MISSING_PARAM", ""},
		{"token login not offered", map[string]any{"type": "m.login.token", "token": "x"}, 400, "M_UNKNOWN", ""},
		{"no type", map[string]any{"identifier": id("alice"), "password": alice.password}, 400, "M_UNKNOWN", ""},
		{"not json", "nope", 400, "M_NOT_JSON", ""},
		{"identifier wrong type", map[string]any{"type": "m.login.password", "identifier": "alice", "password": "x"}, 400, "M_BAD_JSON", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.do("POST", "/_matrix/client/v3/login", "", tc.body)
			ts.expect(res, tc.status, tc.errcode)
			if tc.status != 200 {
				return
			}
			if res.str("user_id") != "@alice:test" || res.str("access_token") == "" || res.str("home_server") != "test" {
				t.Errorf("login response %s", res.raw)
			}
			if tc.wantDevice != "" && res.str("device_id") != tc.wantDevice {
				t.Errorf("device_id = %s, want %s", res.str("device_id"), tc.wantDevice)
			}
			ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami", res.str("access_token"), nil), 200, "")
		})
	}
}

func TestLogout(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	other := ts.login(alice, "OTHER")
	third := ts.login(alice, "THIRD")

	ts.expect(ts.do("POST", "/_matrix/client/v3/logout", "", map[string]any{}), http.StatusUnauthorized, "M_MISSING_TOKEN")
	ts.expect(ts.do("POST", "/_matrix/client/v3/logout", "an/invalid/token", map[string]any{}), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")

	ts.expect(ts.do("POST", "/_matrix/client/v3/logout", alice.token, map[string]any{}), 200, "")
	ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami", alice.token, nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
	devices := ts.do("GET", "/_matrix/client/v3/devices", other.token, nil)
	ts.expect(devices, 200, "")
	if n := len(devices.body["devices"].([]any)); n != 2 {
		t.Errorf("%d devices after logout, want 2: %s", n, devices.raw)
	}

	ts.expect(ts.do("POST", "/_matrix/client/v3/logout/all", other.token, map[string]any{}), 200, "")
	for _, a := range []account{other, third} {
		ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami", a.token, nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
	}
	// The query parameter works as well as the header.
	fresh := ts.login(alice, "")
	ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami?access_token="+fresh.token, "", nil), 200, "")
}

// FuzzIdentifiedUser feeds login identifiers through the resolution of
// user names: it must never panic, and what it accepts is a local user
// id in lower case.
func FuzzIdentifiedUser(f *testing.F) {
	for _, seed := range []string{"alice", "@alice:test", "@ALICE:test", "@alice:elsewhere", "@nocolon", "a:b:c", "", "@:test", "@a:test:1", "é", "@a b:test"} {
		f.Add(seed)
	}
	s := &Server{cfg: newTestConfig()}
	f.Fuzz(func(t *testing.T, name string) {
		user, err := s.identifiedUser(context.Background(), &userIdentifier{Type: "m.id.user", User: name}, "")
		if err != nil {
			return
		}
		if user.Domain() != "test" {
			t.Fatalf("%q resolved to remote %s", name, user.String())
		}
		if strings.ToLower(user.Local()) != user.Local() {
			t.Fatalf("%q resolved to %s, not lower case", name, user.String())
		}
	})
}
