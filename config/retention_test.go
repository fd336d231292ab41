package config

import (
	"strings"
	"testing"
	"time"
)

// TestSynapseDurations: the retention keys take Synapse's duration syntax.
func TestSynapseDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"4w", 28 * 24 * time.Hour, true},
		{"1y", 365 * 24 * time.Hour, true},
		{"15s", 15 * time.Second, true},
		{"30m", 30 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"86400000", 24 * time.Hour, true},
		{"d", 0, false},
		{"-3d", 0, false},
		{"1.5d", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

// TestRetentionKeys: Synapse's keys load, and contradictions stop the
// start naming the key.
func TestRetentionKeys(t *testing.T) {
	cfg, _, err := Parse([]byte(`delete_stale_devices_after: 90d
user_ips_max_age: 28d
forgotten_room_retention_period: 28d
media_retention:
  local_media_lifetime: 1y
  remote_media_lifetime: 90d
retention:
  enabled: true
  default_policy:
    min_lifetime: 1d
    max_lifetime: 1y
  allowed_lifetime_min: 1d
  allowed_lifetime_max: 1y
  purge_jobs:
    - longest_max_lifetime: 3d
      interval: 12h
    - shortest_max_lifetime: 3d
      interval: 1d
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	day := Duration(24 * time.Hour)
	if cfg.DeleteStaleDevicesAfter != 90*day || cfg.IPsMaxAge() != 28*24*time.Hour || cfg.ForgottenRoomRetentionPeriod != 28*day ||
		cfg.MediaRetention.RemoteMediaLifetime != 90*day || cfg.MediaRetention.LocalMediaLifetime != 365*day ||
		!cfg.Retention.Enabled || cfg.Retention.DefaultPolicy.MaxLifetime != 365*day || len(cfg.Retention.Jobs()) != 2 {
		t.Fatalf("parsed %+v", cfg.DataRetention)
	}
	if d := Default(); d.IPsMaxAge() != 28*24*time.Hour || d.DeleteStaleDevicesAfter != 0 || d.Retention.Enabled {
		t.Fatalf("defaults %+v, want Synapse's (only user_ips_max_age 28d)", d.DataRetention)
	}
	if cfg, _, err := Parse([]byte("user_ips_max_age: null\n"), t.TempDir()); err != nil || cfg.IPsMaxAge() != 0 {
		t.Fatalf("null user_ips_max_age: %v, %v; want off", err, cfg)
	}

	bad := []struct{ name, yaml, key string }{
		{"negative", "delete_stale_devices_after: -1h\n", "delete_stale_devices_after"},
		{"allowed range reversed", "retention:\n  enabled: true\n  allowed_lifetime_min: 2d\n  allowed_lifetime_max: 1d\n", "retention.allowed_lifetime_min"},
		{"policy reversed", "retention:\n  enabled: true\n  default_policy: {min_lifetime: 2d, max_lifetime: 1d}\n", "retention.default_policy.min_lifetime"},
		{"job without interval", "retention:\n  enabled: true\n  purge_jobs:\n    - longest_max_lifetime: 1d\n", "retention.purge_jobs[0].interval"},
		{"two jobs for the same rooms", "retention:\n  enabled: true\n  purge_jobs:\n    - {longest_max_lifetime: 1d, interval: 1h}\n    - {longest_max_lifetime: 1d, interval: 2h}\n", "retention.purge_jobs[1]"},
		{"jobs while off", "retention:\n  purge_jobs:\n    - interval: 1d\n", "retention.purge_jobs"},
		{"not a duration", "forgotten_room_retention_period: soon\n", "soon"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.yaml), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
}
