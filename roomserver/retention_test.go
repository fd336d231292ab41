package roomserver

import (
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// TestMaxLifetime: a room's policy or the default, clamped to the
// allowed range, never below the min_lifetime in force.
func TestMaxLifetime(t *testing.T) {
	const h = int64(time.Hour / time.Millisecond)
	d := func(n int64) config.Duration { return config.Duration(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name   string
		room   storage.RoomRetention
		server config.MessageRetention
		want   time.Duration
	}{
		{"no policy, no default", storage.RoomRetention{}, config.MessageRetention{}, 0},
		{"the room's", storage.RoomRetention{MaxLifetime: 5 * h}, config.MessageRetention{}, 5 * time.Hour},
		{"the default", storage.RoomRetention{}, config.MessageRetention{DefaultPolicy: config.RetentionPolicy{MaxLifetime: d(7 * h)}}, 7 * time.Hour},
		{"the room's wins over the default", storage.RoomRetention{MaxLifetime: 2 * h}, config.MessageRetention{DefaultPolicy: config.RetentionPolicy{MaxLifetime: d(7 * h)}}, 2 * time.Hour},
		{"raised to allowed_lifetime_min", storage.RoomRetention{MaxLifetime: h}, config.MessageRetention{AllowedLifetimeMin: d(24 * h)}, 24 * time.Hour},
		{"lowered to allowed_lifetime_max", storage.RoomRetention{MaxLifetime: 100 * h}, config.MessageRetention{AllowedLifetimeMax: d(10 * h)}, 10 * time.Hour},
		{"min_lifetime above max_lifetime", storage.RoomRetention{MaxLifetime: h, MinLifetime: 3 * h}, config.MessageRetention{}, 3 * time.Hour},
		{"a min_lifetime alone purges nothing", storage.RoomRetention{MinLifetime: 3 * h}, config.MessageRetention{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := maxLifetime(tc.room, tc.server); got != tc.want {
				t.Fatalf("maxLifetime = %v, want %v", got, tc.want)
			}
		})
	}
}
