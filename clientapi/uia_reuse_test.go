package clientapi

import (
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/config"
)

// TestUIASessionTimeout: with ui_auth.session_timeout, a device that
// just authenticated deletes another device without asking again, until
// the timeout passes; a password change asks anyway; without the key
// every operation asks.
func TestUIASessionTimeout(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	for _, on := range []bool{true, false} {
		ts := newTestServer(t, func(c *config.Config) {
			if on {
				c.UIAuth.SessionTimeout = config.Duration(timeout)
			}
		})
		alice := ts.register("alice")
		for _, d := range []string{"D1", "D2", "D3"} {
			ts.login(alice, d)
		}
		withAuth := map[string]any{"auth": passwordAuth(alice, alice.password, "")}
		ts.expect(ts.do("DELETE", "/_matrix/client/v3/devices/D1", alice.token, withAuth), 200, "")
		start := time.Now()
		res := ts.do("DELETE", "/_matrix/client/v3/devices/D2", alice.token, map[string]any{})
		if on {
			ts.expect(res, 200, "")
		} else {
			ts.expect(res, 401, "")
			continue
		}
		// Dangerous operations always ask.
		ts.expect(ts.do("POST", "/_matrix/client/v3/account/password", alice.token, map[string]any{"new_password": "noch geheimer"}), 401, "")
		time.Sleep(timeout - time.Since(start) + 100*time.Millisecond)
		ts.expect(ts.do("DELETE", "/_matrix/client/v3/devices/D3", alice.token, map[string]any{}), 401, "")
	}
}
