package federationapi

import (
	"testing"

	"github.com/rohrpost/rohrpost/config"
)

// A process with an embedded bus keeps its owner id across restarts;
// two data directories, or processes on an external NATS, never share one.
func TestRestartOwnerID(t *testing.T) {
	withBus := func(storeDir string, addresses ...string) *config.Config {
		cfg := config.Default()
		cfg.NATS.StoreDir, cfg.NATS.Addresses = storeDir, addresses
		return cfg
	}
	tests := []struct {
		name   string
		a, b   *config.Config
		stable bool // a's id is not "" and the same as b's
	}{
		{"embedded bus, restarted on the same data", withBus("/srv/a/nats"), withBus("/srv/a/nats"), true},
		{"embedded bus, other data", withBus("/srv/a/nats"), withBus("/srv/b/nats"), false},
		{"external nats", withBus("/srv/a/nats", "nats://10.0.0.21:4222"), withBus("/srv/a/nats", "nats://10.0.0.21:4222"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := restartOwnerID(tc.a), restartOwnerID(tc.b)
			if got := a != "" && a == b; got != tc.stable {
				t.Fatalf("ids %q and %q: stable = %v, want %v", a, b, got, tc.stable)
			}
		})
	}
}
