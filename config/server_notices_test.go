package config

import (
	"strings"
	"testing"
)

func TestServerNotices(t *testing.T) {
	tests := []struct {
		name, yaml string
		on         bool
		err        string
	}{
		{"absent", "", false, ""},
		{"SyTest's enabled: false", "server_notices:\n  enabled: false\n", false, ""},
		{"off despite a localpart", "server_notices:\n  enabled: false\n  system_mxid_localpart: notices\n", false, ""},
		{"on by the localpart, as Synapse", "server_notices:\n  system_mxid_localpart: notices\n  room_name: Hinweise\n  auto_join: true\n", true, ""},
		{"enabled without a localpart", "server_notices:\n  enabled: true\n", false, "server_notices.system_mxid_localpart"},
		{"bad localpart", "server_notices:\n  system_mxid_localpart: Notices!\n", false, "server_notices.system_mxid_localpart"},
		{"avatar not mxc", "server_notices:\n  system_mxid_localpart: notices\n  room_avatar_url: https://x/y.png\n", false, "server_notices.room_avatar_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(tc.yaml), t.TempDir())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ServerNotices.On() != tc.on {
				t.Fatalf("On() = %v", cfg.ServerNotices.On())
			}
		})
	}
}
