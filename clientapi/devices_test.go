package clientapi

import (
	"net/http"
	"testing"
)

func TestDevices(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	res := ts.do("POST", "/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "user": "alice", "password": alice.password,
		"device_id": "login_device", "initial_device_display_name": "device display",
	})
	ts.expect(res, 200, "")

	dev := ts.do("GET", "/_matrix/client/v3/devices/login_device", alice.token, nil)
	ts.expect(dev, 200, "")
	if dev.str("device_id") != "login_device" || dev.str("display_name") != "device display" {
		t.Errorf("device: %s", dev.raw)
	}
	// The request with the token was seen, so it has last-seen data.
	own := ts.do("GET", "/_matrix/client/v3/devices/"+alice.deviceID, alice.token, nil)
	if own.str("last_seen_ip") == "" || own.body["last_seen_ts"] == nil {
		t.Errorf("own device lacks last seen: %s", own.raw)
	}
	if _, ok := own.body["user_agent"]; ok {
		t.Errorf("user agent leaked into GET /devices: %s", own.raw)
	}

	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		status  int
		errcode string
	}{
		{"unknown device", "GET", "/_matrix/client/v3/devices/unknown_device", nil, 404, "M_NOT_FOUND"},
		{"rename", "PUT", "/_matrix/client/v3/devices/login_device", map[string]any{"display_name": "new display name"}, 200, ""},
		{"rename unknown", "PUT", "/_matrix/client/v3/devices/unknown_device", map[string]any{"display_name": "x"}, 404, "M_NOT_FOUND"},
		{"rename bad json", "PUT", "/_matrix/client/v3/devices/login_device", "{", 400, "M_NOT_JSON"},
		{"rename wrong type", "PUT", "/_matrix/client/v3/devices/login_device", map[string]any{"display_name": 1}, 400, "M_BAD_JSON"},
		{"no token", "GET", "/_matrix/client/v3/devices", nil, 401, "M_MISSING_TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := alice.token
			if tc.name == "no token" {
				token = ""
			}
			ts.expect(ts.do(tc.method, tc.path, token, tc.body), tc.status, tc.errcode)
		})
	}
	if got := ts.do("GET", "/_matrix/client/v3/devices/login_device", alice.token, nil); got.str("display_name") != "new display name" {
		t.Errorf("after rename: %s", got.raw)
	}
}

func TestDeleteDeviceUIA(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.register("alice")
	eve := ts.register("eve")
	other := ts.login(alice, "login_device")
	second := ts.login(alice, "second_device")
	path := "/_matrix/client/v3/devices/login_device"

	// No body at all, and an empty one, start a session.
	ts.expect(ts.do("DELETE", path, alice.token, nil), http.StatusUnauthorized, "")
	first := ts.do("DELETE", path, alice.token, map[string]any{})
	ts.expect(first, http.StatusUnauthorized, "")
	session := first.str("session")
	for _, key := range []string{"session", "params", "flows"} {
		if _, ok := first.body[key]; !ok {
			t.Fatalf("401 lacks %s: %s", key, first.raw)
		}
	}

	// A wrong password is a 401 the client may retry, with the error.
	wrong := ts.do("DELETE", path, alice.token, map[string]any{"auth": passwordAuth(alice, "cashewnuts", session)})
	ts.expect(wrong, http.StatusUnauthorized, "M_FORBIDDEN")
	if wrong.str("session") != session || wrong.body["completed"] == nil || wrong.str("error") == "" {
		t.Errorf("failed stage: %s", wrong.raw)
	}
	// Someone else's password does not authorise this user.
	ts.expect(ts.do("DELETE", path, alice.token, map[string]any{"auth": passwordAuth(eve, eve.password, "")}), http.StatusForbidden, "M_FORBIDDEN")
	// The session is bound to the device it was started for.
	ts.expect(ts.do("DELETE", "/_matrix/client/v3/devices/second_device", alice.token, map[string]any{"auth": passwordAuth(alice, alice.password, session)}), http.StatusForbidden, "M_FORBIDDEN")
	ts.expect(ts.do("GET", "/_matrix/client/v3/devices/second_device", second.token, nil), 200, "")
	// ... and to the user.
	ts.expect(ts.do("DELETE", path, eve.token, map[string]any{"auth": passwordAuth(eve, eve.password, session)}), http.StatusForbidden, "M_FORBIDDEN")

	ts.expect(ts.do("DELETE", path, alice.token, map[string]any{"auth": passwordAuth(alice, alice.password, session)}), 200, "")
	ts.expect(ts.do("GET", path, alice.token, nil), 404, "M_NOT_FOUND")
	ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami", other.token, nil), 401, "M_UNKNOWN_TOKEN")
	// Deleting again is fine.
	ts.expect(ts.do("DELETE", path, alice.token, map[string]any{"auth": passwordAuth(alice, alice.password, "")}), 200, "")

	// Bulk deletion.
	bulk := "/_matrix/client/v3/delete_devices"
	ts.expect(ts.do("POST", bulk, alice.token, map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")
	res := ts.do("POST", bulk, alice.token, map[string]any{"devices": []string{"second_device"}})
	ts.expect(res, http.StatusUnauthorized, "")
	ts.expect(ts.do("POST", bulk, alice.token, map[string]any{"devices": []string{"second_device", alice.deviceID}, "auth": passwordAuth(alice, alice.password, res.str("session"))}), http.StatusForbidden, "M_FORBIDDEN")
	ts.expect(ts.do("POST", bulk, alice.token, map[string]any{"devices": []string{"second_device"}, "auth": passwordAuth(alice, alice.password, res.str("session"))}), 200, "")
	ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami", second.token, nil), 401, "M_UNKNOWN_TOKEN")
	ts.expect(ts.do("GET", "/_matrix/client/v3/account/whoami", alice.token, nil), 200, "")
}
