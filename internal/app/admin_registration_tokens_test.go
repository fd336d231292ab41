package app_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

// Registration tokens: the admin API's CRUD, the m.login.registration_token
// stage of POST /register with registration_requires_token, the validity
// endpoint, and the pending and completed counts.
func TestAdminAPIRegistrationTokens(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.RegistrationRequiresToken = true
	srv := apptest.StartWith(t, cfg)
	root := registerAdmin(t, srv, "tokenroot")
	anon, _ := mautrix.NewClient(srv.URL, "", "")
	tokenOf := func(name string) map[string]any {
		t.Helper()
		status, body := adminCall(t, root, "GET", "/v1/registration_tokens/"+esc(name), nil)
		if status != 200 {
			t.Fatalf("get %s: %d %v", name, status, body)
		}
		return body
	}

	// Creating.
	status, body := adminCall(t, root, "POST", "/v1/registration_tokens/new", map[string]any{})
	random, _ := body["token"].(string)
	if status != 200 || len(random) != 16 || body["uses_allowed"] != nil || body["expiry_time"] != nil ||
		body["pending"] != float64(0) || body["completed"] != float64(0) {
		t.Fatalf("new random token: %d %v", status, body)
	}
	if status, body = adminCall(t, root, "POST", "/v1/registration_tokens/new", map[string]any{"length": 64}); status != 200 || len(body["token"].(string)) != 64 {
		t.Fatalf("new token of 64: %d %v", status, body)
	}
	status, body = adminCall(t, root, "POST", "/v1/registration_tokens/new", map[string]any{"token": "Amt-1", "uses_allowed": 1})
	if status != 200 || body["token"] != "Amt-1" || body["uses_allowed"] != float64(1) {
		t.Fatalf("new named token: %d %v", status, body)
	}
	past, future := time.Now().Add(-time.Hour).UnixMilli(), time.Now().Add(time.Hour).UnixMilli()
	for _, bad := range []map[string]any{
		{"token": "Amt-1"},
		{"token": "mit Leerzeichen"},
		{"token": fmt.Sprintf("%065d", 0)},
		{"length": 65},
		{"length": 0},
		{"uses_allowed": -1},
		{"uses_allowed": "1"},
		{"expiry_time": past},
		{"expiry_time": 1.5},
	} {
		if status, body := adminCall(t, root, "POST", "/v1/registration_tokens/new", bad); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
			t.Fatalf("new %v: %d %v", bad, status, body)
		}
	}

	// Editing.
	status, body = adminCall(t, root, "PUT", "/v1/registration_tokens/Amt-1", map[string]any{"expiry_time": future})
	if status != 200 || body["expiry_time"] != float64(future) || body["uses_allowed"] != float64(1) {
		t.Fatalf("put expiry: %d %v", status, body)
	}
	status, body = adminCall(t, root, "PUT", "/v1/registration_tokens/Amt-1", map[string]any{"expiry_time": nil})
	if status != 200 || body["expiry_time"] != nil || body["uses_allowed"] != float64(1) {
		t.Fatalf("put expiry null: %d %v", status, body)
	}
	if status, body := adminCall(t, root, "PUT", "/v1/registration_tokens/Amt-1", map[string]any{"uses_allowed": -2}); status != 400 {
		t.Fatalf("put bad uses: %d %v", status, body)
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		if status, body := adminCall(t, root, m, "/v1/registration_tokens/unbekannt", map[string]any{}); status != 404 || body["errcode"] != "M_NOT_FOUND" {
			t.Fatalf("%s unknown token: %d %v", m, status, body)
		}
	}
	if status, _ := adminCall(t, anon, "GET", "/v1/registration_tokens", nil); status != 401 {
		t.Fatalf("without a token: %d", status)
	}

	// The client side: every flow starts with the token.
	status, body = rawCall(t, anon, "POST", "/register", map[string]any{"username": "neu", "password": "ein langes passwort"})
	session, _ := body["session"].(string)
	flows, _ := body["flows"].([]any)
	if status != 401 || session == "" || len(flows) != 1 ||
		!reflect.DeepEqual(flows[0].(map[string]any)["stages"], []any{"m.login.registration_token", "m.login.dummy"}) {
		t.Fatalf("register flows: %d %v", status, body)
	}
	valid := func(token string) any {
		t.Helper()
		status, body := rawCallPath(t, anon, "GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token="+token, nil)
		if status != 200 {
			t.Fatalf("validity of %s: %d %v", token, status, body)
		}
		return body["valid"]
	}
	if valid("Amt-1") != true || valid("unbekannt") != false {
		t.Fatal("validity before use")
	}
	if status, body := rawCallPath(t, anon, "GET", "/_matrix/client/v1/register/m.login.registration_token/validity", nil); status != 400 || body["errcode"] != "M_MISSING_PARAM" {
		t.Fatalf("validity without a token: %d %v", status, body)
	}
	// Skipping the token does not register, nor does a wrong one.
	_, body = rawCall(t, anon, "POST", "/register", map[string]any{"username": "ohne", "password": "ein langes passwort"})
	skipper, _ := body["session"].(string)
	status, body = rawCall(t, anon, "POST", "/register", map[string]any{"auth": map[string]any{"type": "m.login.dummy", "session": skipper}})
	if status != 401 || !reflect.DeepEqual(body["completed"], []any{"m.login.dummy"}) {
		t.Fatalf("dummy without a token: %d %v", status, body)
	}
	status, body = rawCall(t, anon, "POST", "/register", map[string]any{"auth": map[string]any{"type": "m.login.registration_token", "token": "falsch", "session": skipper}})
	if status != 401 || body["errcode"] != "M_UNAUTHORIZED" {
		t.Fatalf("a wrong token: %d %v", status, body)
	}
	status, body = rawCall(t, anon, "POST", "/register", map[string]any{"auth": map[string]any{"type": "m.login.registration_token", "token": "Amt-1", "session": session}})
	if status != 401 || !reflect.DeepEqual(body["completed"], []any{"m.login.registration_token"}) {
		t.Fatalf("the token stage: %d %v", status, body)
	}
	if tok := tokenOf("Amt-1"); tok["pending"] != float64(1) || tok["completed"] != float64(0) {
		t.Fatalf("pending during the registration: %v", tok)
	}
	// Its one use is taken while the registration is in progress.
	if valid("Amt-1") != false {
		t.Fatal("a token whose use is pending is still valid")
	}
	status, body = rawCall(t, anon, "POST", "/register", map[string]any{"username": "zweiter", "password": "ein langes passwort"})
	other, _ := body["session"].(string)
	if status != 401 || other == "" {
		t.Fatalf("a second registration does not get its own session: %d %v", status, body)
	}
	status, body = rawCall(t, anon, "POST", "/register", map[string]any{"auth": map[string]any{"type": "m.login.registration_token", "token": "Amt-1", "session": other}})
	if status != 401 || body["errcode"] != "M_UNAUTHORIZED" {
		t.Fatalf("a used-up token in another session: %d %v", status, body)
	}
	status, body = rawCall(t, anon, "POST", "/register", map[string]any{"auth": map[string]any{"type": "m.login.dummy", "session": session}})
	if status != 200 || body["user_id"] != "@neu:"+string(root.UserID.Homeserver()) {
		t.Fatalf("registration: %d %v", status, body)
	}
	if tok := tokenOf("Amt-1"); tok["pending"] != float64(0) || tok["completed"] != float64(1) {
		t.Fatalf("completed after the registration: %v", tok)
	}

	// The valid filter; a token that expires becomes invalid.
	soon := time.Now().Add(time.Second).UnixMilli()
	if status, body := adminCall(t, root, "POST", "/v1/registration_tokens/new", map[string]any{"token": "bald", "expiry_time": soon}); status != 200 {
		t.Fatalf("new expiring token: %d %v", status, body)
	}
	names := func(query string) []string {
		t.Helper()
		status, body := adminCall(t, root, "GET", "/v1/registration_tokens"+query, nil)
		list, _ := body["registration_tokens"].([]any)
		if status != 200 {
			t.Fatalf("list%s: %d %v", query, status, body)
		}
		var out []string
		for _, x := range list {
			out = append(out, x.(map[string]any)["token"].(string))
		}
		return out
	}
	if all := names(""); len(all) != 4 {
		t.Fatalf("all tokens: %v", all)
	}
	if v := names("?valid=false"); !reflect.DeepEqual(v, []string{"Amt-1"}) {
		t.Fatalf("invalid tokens: %v", v)
	}
	time.Sleep(time.Until(time.UnixMilli(soon + 50)))
	if v := names("?valid=false"); !reflect.DeepEqual(v, []string{"Amt-1", "bald"}) {
		t.Fatalf("invalid tokens after the expiry: %v", v)
	}
	if v := names("?valid=true"); len(v) != 2 {
		t.Fatalf("valid tokens: %v", v)
	}
	if valid("bald") != false {
		t.Fatal("an expired token is valid")
	}
	if status, body := adminCall(t, root, "GET", "/v1/registration_tokens?valid=vielleicht", nil); status != 400 {
		t.Fatalf("bad valid: %d %v", status, body)
	}

	// Deleting.
	if status, body := adminCall(t, root, "DELETE", "/v1/registration_tokens/bald", nil); status != 200 {
		t.Fatalf("delete: %d %v", status, body)
	}
	if status, _ := adminCall(t, root, "GET", "/v1/registration_tokens/bald", nil); status != 404 {
		t.Fatalf("deleted token: %d", status)
	}
	_, body = adminCall(t, root, "GET", "/v1/audit_log?target=Amt-1", nil)
	entries, _ := body["entries"].([]any)
	if len(entries) != 5 {
		t.Fatalf("audit of Amt-1 (created, refused again, two edits, a refused edit): %v", body)
	}
}

// registration_requires_token is a way to verify new users: open
// registration with it needs nothing else.
func TestRegistrationRequiresTokenConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, _, err := config.Parse([]byte("server_name: example.org\nenable_registration: true\nregistration_requires_token: true\n"), dir); err != nil {
		t.Fatalf("registration with tokens: %v", err)
	}
	if _, _, err := config.Parse([]byte("server_name: example.org\nenable_registration: true\n"), dir); err == nil {
		t.Fatal("open registration without verification was accepted")
	}
}
