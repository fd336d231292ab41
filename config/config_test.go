package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

func TestSampleLoads(t *testing.T) {
	cfg, warnings, err := Parse(Sample, t.TempDir())
	if err != nil {
		t.Fatalf("sample config: %v", err)
	}
	if len(warnings) > 0 {
		t.Fatalf("sample config has unknown keys: %v", warnings)
	}
	if cfg.ServerName != "localhost" {
		t.Fatalf("server_name = %s", cfg.ServerName)
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	_, warnings, err := Parse([]byte("server_name: x.org\nfuture_key: 1\nlisteners:\n  - port: 1\n    shiny: true\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"future_key", "listeners[0].shiny"}
	if !slices.Equal(warnings, want) {
		t.Fatalf("warnings = %v, want %v", warnings, want)
	}
}

func TestInvalidConfigNamesKeys(t *testing.T) {
	tests := []struct {
		name, yaml, key string
	}{
		{"bad server name", "server_name: 'a b'\n", "server_name"},
		{"bad port", "listeners:\n  - port: 70000\n", "listeners[0].port"},
		{"tls without cert", "listeners:\n  - port: 1\n    tls: true\n", "listeners[0].tls"},
		{"unknown db", "database:\n  type: oracle\n", "database.type"},
		{"postgres without uri", "database:\n  type: postgres\n", "database.uri"},
		{"bad room version", "default_room_version: '99'\n", "default_room_version"},
		{"bad resource", "listeners:\n  - port: 1\n    resources: [magic]\n", "listeners[0].resources"},
		{"bad sender address", "public_baseurl: https://m.example\nemail:\n  smtp_host: mail\n  notif_from: 'Matrix <m@example>'\n", "email.notif_from"},
		{"email without public_baseurl", "email:\n  smtp_host: mail\n  notif_from: m@example.org\n", "public_baseurl"},
		{"required 3pid without email", "registrations_require_3pid: [email]\n", "registrations_require_3pid"},
		{"required phone number", "registrations_require_3pid: [msisdn]\n", "registrations_require_3pid"},
		{"registration without verification", "enable_registration: true\n", "enable_registration"},
		{"support contact without address", "well_known:\n  support:\n    contacts:\n      - role: m.role.admin\n", "well_known.support.contacts[0]"},
		{"support contact without role", "well_known:\n  support:\n    contacts:\n      - email_address: a@example.org\n", "well_known.support.contacts[0].role"},
		{"support contact bad user id", "well_known:\n  support:\n    contacts:\n      - matrix_id: admin\n        role: m.role.admin\n", "well_known.support.contacts[0].matrix_id"},
		{"refreshable token lifetime zero", "refreshable_access_token_lifetime: 0\n", "refreshable_access_token_lifetime"},
		{"support page not a URL", "well_known:\n  support:\n    support_page: hilfe\n", "well_known.support.support_page"},
		{"unknown log format", "log_format: xml\n", "log_format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.yaml), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(string(Sample))
	f.Add("server_name: [")
	f.Add("listeners: 5")
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = Parse([]byte(s), "/nonexistent")
	})
}

func TestIsLocal(t *testing.T) {
	cfg := Default()
	cfg.ServerName = "amt.example"
	tests := []struct {
		name string
		want bool
	}{{"amt.example", true}, {"other.example", false}, {"amt.example:8448", false}}
	for _, tc := range tests {
		if got := cfg.IsLocal(spec.ServerName(tc.name)); got != tc.want {
			t.Errorf("IsLocal(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
