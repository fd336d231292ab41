package config

import (
	"strings"
	"testing"
)

// TestMetricsListenerAccepted: the metrics resource is served (by
// internal/app), alone on its own listener or beside the APIs, and an
// unknown resource is still refused.
func TestMetricsListenerAccepted(t *testing.T) {
	tests := []struct {
		name, yaml string
		wantErr    string
	}{
		{"own listener", "listeners:\n  - port: 8008\n    resources: [client]\n  - bind_address: 127.0.0.1\n    port: 9000\n    resources: [metrics]\n", ""},
		{"beside the APIs", "listeners:\n  - port: 8008\n    resources: [client, federation, metrics]\n", ""},
		{"misspelt", "listeners:\n  - port: 9000\n    resources: [metric]\n", `unknown resource "metric"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(tc.yaml), t.TempDir())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			var served bool
			for _, l := range cfg.Listeners {
				served = served || l.HasResource("metrics")
			}
			if !served {
				t.Fatalf("no listener kept the metrics resource: %+v", cfg.Listeners)
			}
		})
	}
}
