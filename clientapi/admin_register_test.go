package clientapi

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/rohrpost/rohrpost/config"
)

// sharedSecretMAC computes the MAC the way Synapse's clients do.
func sharedSecretMAC(secret, nonce, user, password string, admin bool) string {
	flag := "notadmin"
	if admin {
		flag = "admin"
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(nonce + "\x00" + user + "\x00" + password + "\x00" + flag))
	return hex.EncodeToString(m.Sum(nil))
}

func (ts *testServer) nonce() string {
	ts.t.Helper()
	res := ts.do("GET", "/_synapse/admin/v1/register", "", nil)
	ts.expect(res, 200, "")
	return res.str("nonce")
}

func (ts *testServer) registerWithSecret(user, password string, admin bool) account {
	ts.t.Helper()
	nonce := ts.nonce()
	res := ts.do("POST", "/_synapse/admin/v1/register", "", map[string]any{
		"nonce": nonce, "username": user, "password": password, "admin": admin,
		"mac": sharedSecretMAC(testSecret, nonce, user, password, admin),
	})
	ts.expect(res, 200, "")
	return account{userID: res.str("user_id"), token: res.str("access_token"), deviceID: res.str("device_id"), password: password}
}

func TestSharedSecretRegistration(t *testing.T) {
	ts := newTestServer(t)
	a := ts.registerWithSecret("plain", "pw", false)
	if a.userID != "@plain:test" || a.token == "" || a.deviceID == "" {
		t.Fatalf("registered %+v", a)
	}
	if got := ts.registerWithSecret("DownCased", "pw", true); got.userID != "@downcased:test" {
		t.Errorf("user id = %s", got.userID)
	}

	tests := []struct {
		name    string
		body    func(nonce string) any
		status  int
		errcode string
	}{
		{"symbols", func(n string) any {
			return map[string]any{"nonce": n, "username": "us,er", "password": "pw", "mac": sharedSecretMAC(testSecret, n, "us,er", "pw", false)}
		}, 400, "M_INVALID_USERNAME"},
		{"taken", func(n string) any {
			return map[string]any{"nonce": n, "username": "plain", "password": "pw", "mac": sharedSecretMAC(testSecret, n, "plain", "pw", false)}
		}, 400, "M_USER_IN_USE"},
		{"wrong secret", func(n string) any {
			return map[string]any{"nonce": n, "username": "x", "password": "pw", "mac": sharedSecretMAC("guess", n, "x", "pw", false)}
		}, 403, "M_FORBIDDEN"},
		{"admin flag not in mac", func(n string) any {
			return map[string]any{"nonce": n, "username": "x", "password": "pw", "admin": true, "mac": sharedSecretMAC(testSecret, n, "x", "pw", false)}
		}, 403, "M_FORBIDDEN"},
		{"unknown nonce", func(string) any {
			return map[string]any{"nonce": "made-up", "username": "x", "password": "pw", "mac": sharedSecretMAC(testSecret, "made-up", "x", "pw", false)}
		}, 400, "M_UNKNOWN"},
		{"missing mac", func(n string) any { return map[string]any{"nonce": n, "username": "x", "password": "pw"} }, 400, "M_MISSING_PARAM"},
		{"not json", func(string) any { return "{" }, 400, "M_NOT_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts.expect(ts.do("POST", "/_synapse/admin/v1/register", "", tc.body(ts.nonce())), tc.status, tc.errcode)
		})
	}

	// A nonce works once, even when the first use failed.
	n := ts.nonce()
	body := map[string]any{"nonce": n, "username": "once", "password": "pw", "mac": sharedSecretMAC(testSecret, n, "once", "pw", false)}
	ts.expect(ts.do("POST", "/_synapse/admin/v1/register", "", body), 200, "")
	ts.expect(ts.do("POST", "/_synapse/admin/v1/register", "", body), http.StatusBadRequest, "M_UNKNOWN")
}

func TestSharedSecretDisabled(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.RegistrationSharedSecret = "" })
	ts.expect(ts.do("GET", "/_synapse/admin/v1/register", "", nil), 400, "M_UNKNOWN")
	ts.expect(ts.do("POST", "/_synapse/admin/v1/register", "", map[string]any{}), 400, "M_UNKNOWN")
}
