package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
)

// call sends a request with an optional access token and JSON body.
func call(t *testing.T, base, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// Refresh tokens (spec v1.3; issue 12): a client that asks for one at
// login or registration gets an access token that expires and a refresh
// token; POST /refresh rotates both and the device stays the same device,
// its transaction ids too; an expired token is a soft logout; logging
// out ends the refresh token.
func TestRefreshTokens(t *testing.T) {
	t.Parallel()
	const lifetime = 3 * time.Second
	cfg := apptest.Config(t.TempDir())
	cfg.RefreshableAccessTokenLifetime = config.Duration(lifetime)
	srv := apptest.StartWith(t, cfg)
	const password = "correct horse battery staple"
	const v3 = "/_matrix/client/v3"

	whoami := func(token string) (int, map[string]any) {
		t.Helper()
		return call(t, srv.URL, "GET", v3+"/account/whoami", token, nil)
	}
	refresh := func(refreshToken string) (int, map[string]any) {
		t.Helper()
		return call(t, srv.URL, "POST", v3+"/refresh", "", map[string]any{"refresh_token": refreshToken})
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	expectIssued := func(what string, status int, body map[string]any) {
		t.Helper()
		ms, _ := body["expires_in_ms"].(float64)
		if status != 200 || str(body, "access_token") == "" || str(body, "refresh_token") == "" || ms <= 0 || ms > float64(lifetime.Milliseconds()) {
			t.Fatalf("%s: %d %v, want an access token, a refresh token and expires_in_ms up to %d", what, status, body, lifetime.Milliseconds())
		}
	}
	expectUnknown := func(what string, status int, body map[string]any, softLogout bool) {
		t.Helper()
		if status != 401 || body["errcode"] != "M_UNKNOWN_TOKEN" || (softLogout && body["soft_logout"] != true) {
			t.Fatalf("%s: %d %v, want 401 M_UNKNOWN_TOKEN (soft_logout %v)", what, status, body, softLogout)
		}
	}

	// Registration with refresh_token.
	reg := map[string]any{"username": "refresher", "password": password, "refresh_token": true}
	status, first := call(t, srv.URL, "POST", v3+"/register", "", reg)
	if status != 401 {
		t.Fatalf("register: %d %v", status, first)
	}
	reg["auth"] = map[string]any{"type": "m.login.dummy", "session": first["session"]}
	status, registered := call(t, srv.URL, "POST", v3+"/register", "", reg)
	expectIssued("register", status, registered)
	user := str(registered, "user_id")

	// Login without refresh_token: a token that never expires.
	login := func(refresh bool, deviceID string) (int, map[string]any) {
		t.Helper()
		body := map[string]any{"type": "m.login.password", "password": password,
			"identifier": map[string]any{"type": "m.id.user", "user": user}, "refresh_token": refresh}
		if deviceID != "" {
			body["device_id"] = deviceID
		}
		return call(t, srv.URL, "POST", v3+"/login", "", body)
	}
	status, plain := login(false, "")
	if status != 200 || plain["refresh_token"] != nil || plain["expires_in_ms"] != nil {
		t.Fatalf("login without refresh_token: %d %v", status, plain)
	}
	lasting := str(plain, "access_token")

	// Login with refresh_token.
	status, loggedIn := login(true, "REFRESHING")
	expectIssued("login", status, loggedIn)
	at1, rt1, device := str(loggedIn, "access_token"), str(loggedIn, "refresh_token"), str(loggedIn, "device_id")
	status, room := call(t, srv.URL, "POST", v3+"/createRoom", at1, map[string]any{})
	if status != 200 {
		t.Fatalf("createRoom: %d %v", status, room)
	}
	sendPath := v3 + "/rooms/" + str(room, "room_id") + "/send/m.room.message/t1"
	status, sent := call(t, srv.URL, "PUT", sendPath, at1, map[string]any{"msgtype": "m.text", "body": "once"})
	if status != 200 {
		t.Fatalf("send: %d %v", status, sent)
	}

	// Refresh: new tokens for the same device; the old access token ends.
	status, r2 := refresh(rt1)
	expectIssued("refresh", status, r2)
	at2 := str(r2, "access_token")
	if at2 == at1 || str(r2, "refresh_token") == rt1 {
		t.Fatalf("refresh gave the same tokens again: %v", r2)
	}
	status, body := whoami(at1)
	expectUnknown("the refreshed access token", status, body, false)

	// The old refresh token stays valid until a new token is used: a
	// client that lost the answer refreshes again.
	status, r3 := refresh(rt1)
	expectIssued("refresh again with the old refresh token", status, r3)
	at3, rt3 := str(r3, "access_token"), str(r3, "refresh_token")
	status, body = whoami(at2)
	expectUnknown("the access token of the lost answer", status, body, false)
	status, body = whoami(at3)
	if status != 200 || body["device_id"] != device || body["user_id"] != user {
		t.Fatalf("whoami with the refreshed token: %d %v, want device %s", status, body, device)
	}
	// Now that the new token was used, the old refresh token is gone.
	status, body = refresh(rt1)
	expectUnknown("the old refresh token after the new access token was used", status, body, true)
	status, body = refresh("rpr_bogus")
	expectUnknown("an unknown refresh token", status, body, true)
	if status, body = call(t, srv.URL, "POST", v3+"/refresh", "", map[string]any{}); status != 400 || body["errcode"] != "M_MISSING_PARAM" {
		t.Fatalf("refresh without a refresh token: %d %v, want 400 M_MISSING_PARAM", status, body)
	}

	// The device keeps its transaction ids.
	status, again := call(t, srv.URL, "PUT", sendPath, at3, map[string]any{"msgtype": "m.text", "body": "once"})
	if status != 200 || again["event_id"] != sent["event_id"] {
		t.Fatalf("the retried send after a refresh: %d %v, want event %v", status, again, sent["event_id"])
	}

	// Expiry: a soft logout; the refresh token brings the session back.
	time.Sleep(lifetime + 500*time.Millisecond)
	status, body = whoami(at3)
	expectUnknown("an expired access token", status, body, true)
	status, body = whoami(lasting)
	if status != 200 {
		t.Fatalf("a token issued without refresh_token expired: %d %v", status, body)
	}
	status, r4 := refresh(rt3)
	expectIssued("refresh after expiry", status, r4)
	at4, rt4 := str(r4, "access_token"), str(r4, "refresh_token")
	if status, body = whoami(at4); status != 200 || body["device_id"] != device {
		t.Fatalf("whoami after refreshing an expired token: %d %v", status, body)
	}

	// Logout ends the refresh token with the device.
	if status, body = call(t, srv.URL, "POST", v3+"/logout", at4, map[string]any{}); status != 200 {
		t.Fatalf("logout: %d %v", status, body)
	}
	status, body = refresh(rt4)
	expectUnknown("a refresh token after logout", status, body, true)
}
