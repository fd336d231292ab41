package config

import (
	"strings"
	"testing"
	"time"
)

func TestDelayedEventsConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		enabled bool
		maxWait time.Duration
		refused string
	}{
		{"off by default, as in Synapse", "", false, 0, ""},
		{"on with a maximum delay", "max_event_delay_duration: 24h\n", true, 24 * time.Hour, ""},
		{"milliseconds as Synapse writes them", "max_event_delay_duration: 8000\n", true, 8 * time.Second, ""},
		{"a per-user limit of 0 refuses all", "max_event_delay_duration: 1h\nmax_delayed_events_per_user: 0\n", false, time.Hour, ""},
		{"negative delay", "max_event_delay_duration: -1h\n", false, 0, "max_event_delay_duration"},
		{"negative limit", "max_delayed_events_per_user: -1\n", false, 0, "max_delayed_events_per_user"},
		{"not a duration", "max_event_delay_duration: soon\n", false, 0, "soon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte("server_name: example.org\n"+tc.yaml), t.TempDir())
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("err = %v, want one naming %s", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.DelayedEvents.Enabled(); got != tc.enabled || time.Duration(cfg.DelayedEvents.MaxEventDelayDuration) != tc.maxWait {
				t.Errorf("enabled %v, max %v", got, time.Duration(cfg.DelayedEvents.MaxEventDelayDuration))
			}
		})
	}
}
