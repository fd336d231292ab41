package config

import (
	"strings"
	"testing"
)

// The rc_* keys rohrpost implements are read with Synapse's shapes; any
// other rc_* key, and a limit that cannot work, is refused at start.
func TestRateLimitKeys(t *testing.T) {
	cfg, _, err := Parse([]byte("server_name: example.org\nrc_message: {per_second: 2, burst_count: 4}\nrc_login:\n  failed_attempts: {per_second: 0.5, burst_count: 2}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RCMessage != (RateLimit{2, 4}) || cfg.RCLogin.FailedAttempts != (RateLimit{0.5, 2}) || cfg.RCLogin.Address != DefaultRateLimits().RCLogin.Address {
		t.Fatalf("read %+v %+v", cfg.RCMessage, cfg.RCLogin)
	}
	for yaml, want := range map[string]string{
		"rc_federation: {window_size: 1000}":                 "rc_federation",
		"rc_invites: {per_issuer: {per_second: 1}}":          "rc_invites.per_issuer",
		"rc_message: {per_second: 1, burst: 3}":              "rc_message.burst",
		"rc_message: {per_second: 0, burst_count: 3}":        "rc_message.per_second",
		"rc_joins: {local: {per_second: 1, burst_count: 0}}": "rc_joins.local.burst_count",
	} {
		_, _, err := Parse([]byte("server_name: example.org\n"+yaml+"\n"), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", yaml, err, want)
		}
	}
}
