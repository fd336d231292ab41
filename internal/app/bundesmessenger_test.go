package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/app"
	"github.com/rohrpost/rohrpost/internal/apptest"
)

const fileMaintenance = `{"maintenance": [{"warning_start_time": "2026-03-01T08:00:00Z", "start_time": "2026-03-02T20:00:00Z",
  "end_time": "2026-03-02T22:00:00Z", "type": "MAINTENANCE", "description": "Wartung", "blocking": true}],
  "versions": {"ios": {"update_before": "2.20.0", "warn_before": "2.21.0"}, "android": {"update_before": "2.20.0", "warn_before": "2.21.0"}}}`

// getJSON fetches url without a token and returns the status and the
// body, compacted.
func getJSON(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: content type %q", url, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, compact(t, raw)
}

func compact(t *testing.T, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%q is not JSON: %v", raw, err)
	}
	return b.String()
}

// TestBundesMessengerEndpoints: the apps' maintenance document, JWTs
// and map style come from the config; an admin replaces the maintenance
// document at runtime, it survives a restart, a broken one is refused
// whole, and DELETE brings the file's back.
func TestBundesMessengerEndpoints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	maintenance := filepath.Join(dir, "maintenance.json")
	style := filepath.Join(dir, "style.json")
	if err := os.WriteFile(maintenance, []byte(fileMaintenance), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(style, []byte(`{"version": 8, "sources": {}, "layers": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := apptest.Config(t.TempDir())
	cfg.BundesMessenger = config.BundesMessenger{DataPrivacyURL: "https://agency.example/datenschutz", ImprintURL: "https://agency.example/impressum",
		MaintenanceFile: maintenance, VerifyJWTs: []string{"eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "eyJhbGciOiJSUzI1NiJ9.e30.c2lnMg"}, MapStyleFile: style}
	srv := apptest.StartWith(t, cfg)

	for _, tc := range []struct{ name, path, want string }{
		{"maintenance from the file", "/_matrix/cmaintenance", compact(t, []byte(fileMaintenance))},
		{"verify JWTs", "/_bum/configure/v1/verify", `["eyJhbGciOiJSUzI1NiJ9.e30.c2ln","eyJhbGciOiJSUzI1NiJ9.e30.c2lnMg"]`},
		{"map style", "/_matrix/cconfig/style.json", `{"version":8,"sources":{},"layers":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, got := getJSON(t, srv.URL+tc.path)
			if status != 200 || got != tc.want {
				t.Fatalf("%d %s, want %s", status, got, tc.want)
			}
		})
	}

	admin := registerAdmin(t, srv, "bmadmin")
	alice := srv.Register(t, "alice")
	adhoc := map[string]any{"maintenance": []any{map[string]any{"type": "ADHOC_MESSAGE", "description": "Neue Version", "blocking": false,
		"start_time": "2026-04-01T00:00:00Z", "end_time": "2026-04-02T00:00:00Z"}}}
	if status, body := adminCall(t, alice, "PUT", "/v1/bundesmessenger/maintenance", adhoc); status != 403 {
		t.Fatalf("a non-admin set the document: %d %v", status, body)
	}
	for _, bad := range []any{
		map[string]any{"maintenance": []any{map[string]any{"type": "OUTAGE"}}},
		map[string]any{"maintenance": []any{map[string]any{"type": "MAINTENANCE", "start_time": "bald"}}},
		map[string]any{"versions": map[string]any{"ios": map[string]any{"update_before": 2}}},
	} {
		if status, body := adminCall(t, admin, "PUT", "/v1/bundesmessenger/maintenance", bad); status != 400 || body["errcode"] != "M_BAD_JSON" {
			t.Fatalf("bad document %v: %d %v", bad, status, body)
		}
	}
	if status, body := adminCall(t, admin, "PUT", "/v1/bundesmessenger/maintenance", adhoc); status != 200 {
		t.Fatalf("set: %d %v", status, body)
	}
	wantAdhoc := compact(t, mustMarshal(t, adhoc))
	if status, got := getJSON(t, srv.URL+"/_matrix/cmaintenance"); status != 200 || got != wantAdhoc {
		t.Fatalf("after the admin's change: %d %s", status, got)
	}
	srv.Restart(t)
	if status, got := getJSON(t, srv.URL+"/_matrix/cmaintenance"); status != 200 || got != wantAdhoc {
		t.Fatalf("after a restart: %d %s", status, got)
	}
	if status, body := adminCall(t, admin, "GET", "/v1/audit_log?action=bundesmessenger.maintenance.set", nil); status != 200 || len(body["entries"].([]any)) == 0 {
		t.Fatalf("the change is not in the audit log: %d %v", status, body)
	}
	if status, body := adminCall(t, admin, "DELETE", "/v1/bundesmessenger/maintenance", nil); status != 200 {
		t.Fatalf("reset: %d %v", status, body)
	}
	if status, got := getJSON(t, srv.URL+"/_matrix/cmaintenance"); status != 200 || got != compact(t, []byte(fileMaintenance)) {
		t.Fatalf("after the reset: %d %s", status, got)
	}
}

// TestBundesMessengerEndpointsUnconfigured: without the block the
// endpoints answer 404 M_NOT_FOUND.
func TestBundesMessengerEndpointsUnconfigured(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	for _, path := range []string{"/_matrix/cmaintenance", "/_bum/configure/v1/verify", "/_matrix/cconfig/style.json"} {
		status, got := getJSON(t, srv.URL+path)
		if status != 404 || !bytes.Contains([]byte(got), []byte(`"M_NOT_FOUND"`)) {
			t.Fatalf("%s: %d %s", path, status, got)
		}
	}
}

// TestAdminListenerApart: once a listener names the admin resource, the
// admin API is served there and no longer on the client listener.
func TestAdminListenerApart(t *testing.T) {
	t.Parallel()
	for _, apart := range []bool{false, true} {
		cfg := apptest.Config(t.TempDir())
		cfg.Listeners = []config.Listener{{BindAddress: "127.0.0.1", Port: 0, Resources: []string{"client", "federation", "media"}}}
		if apart {
			cfg.Listeners = append(cfg.Listeners, config.Listener{BindAddress: "127.0.0.1", Port: 0, Resources: []string{"admin"}})
		}
		a, err := app.New(context.Background(), cfg, app.Options{})
		if err != nil {
			t.Fatal(err)
		}
		client := httptest.NewServer(a.Handler("client", "federation", "media"))
		adminOnly := httptest.NewServer(a.Handler("admin"))
		clientStatus, _ := getJSON(t, client.URL+"/_synapse/admin/v1/server_version")
		adminStatus, _ := getJSON(t, adminOnly.URL+"/_synapse/admin/v1/server_version")
		versions, _ := getJSON(t, adminOnly.URL+"/_matrix/client/versions")
		client.Close()
		adminOnly.Close()
		a.Close()
		wantClient := 200
		if apart {
			wantClient = 404
		}
		if clientStatus != wantClient || versions != 404 {
			t.Fatalf("apart %v: admin API on the client listener %d (want %d), client API on the admin listener %d (want 404)", apart, clientStatus, wantClient, versions)
		}
		if apart && adminStatus != 200 {
			t.Fatalf("admin API on its listener: %d", adminStatus)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
