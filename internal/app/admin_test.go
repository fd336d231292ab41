package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

// adminCall calls /_synapse/admin+path as cli.
func adminCall(t testing.TB, cli *mautrix.Client, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return rawCallPath(t, cli, method, "/_synapse/admin"+path, body)
}

// The frame of the Synapse admin API: who may call it, its errors and
// paging, the server version and the audit log.
func TestAdminAPIFrame(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	admin := registerAdmin(t, srv, "frameadmin")
	alice := srv.Register(t, "alice")

	resp, err := http.Get(srv.URL + "/_synapse/admin/v1/server_version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("server_version without a token: %d", resp.StatusCode)
	}
	status, body := adminCall(t, admin, "GET", "/v1/server_version", nil)
	if v, _ := body["server_version"].(string); status != 200 || !strings.HasPrefix(v, "rohrpost") {
		t.Fatalf("server_version: %d %v", status, body)
	}

	anon, _ := mautrix.NewClient(srv.URL, "", "")
	for _, tc := range []struct {
		name   string
		cli    *mautrix.Client
		path   string
		status int
		code   string
	}{
		{"no token", anon, "/v1/audit_log", 401, "M_MISSING_TOKEN"},
		{"not an admin", alice, "/v1/audit_log", 403, "M_FORBIDDEN"},
		{"an admin", admin, "/v1/audit_log", 200, ""},
		{"negative from", admin, "/v1/audit_log?from=-1", 400, "M_INVALID_PARAM"},
		{"from not a number", admin, "/v1/audit_log?from=x", 400, "M_INVALID_PARAM"},
		{"negative limit", admin, "/v1/audit_log?limit=-5", 400, "M_INVALID_PARAM"},
		{"bad dir", admin, "/v1/audit_log?dir=up", 400, "M_INVALID_PARAM"},
		{"unknown endpoint", admin, "/v1/nothing_here", 404, "M_UNRECOGNIZED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := adminCall(t, tc.cli, "GET", tc.path, nil)
			if status != tc.status || (tc.code != "" && body["errcode"] != tc.code) {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
}
