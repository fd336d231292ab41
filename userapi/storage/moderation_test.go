package storage

import (
	"context"
	"errors"
	"testing"
)

func TestModeration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.CreateAccount(ctx, Account{UserID: "@gina:test"}, "gina", &Device{UserID: "@gina:test", DeviceID: "D1", TokenHash: []byte("h1")}); err != nil {
			t.Fatal(err)
		}
		yes, no := true, false
		tests := []struct {
			name              string
			locked, suspended *bool
			want              Moderation
		}{
			{"nothing", nil, nil, Moderation{}},
			{"lock", &yes, nil, Moderation{Locked: true}},
			{"suspend too", nil, &yes, Moderation{Locked: true, Suspended: true}},
			{"unlock", &no, nil, Moderation{Suspended: true}},
			{"unsuspend", nil, &no, Moderation{}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				m, hashes, err := s.SetModeration(ctx, "@gina:test", tc.locked, tc.suspended)
				if err != nil {
					t.Fatal(err)
				}
				if *m != tc.want || len(hashes) != 1 || string(hashes[0]) != "h1" {
					t.Errorf("got %+v %q, want %+v", *m, hashes, tc.want)
				}
				if got, _ := s.Moderation(ctx, "@gina:test"); *got != tc.want {
					t.Errorf("stored %+v", *got)
				}
				if o, err := s.TokenOwner(ctx, []byte("h1")); err != nil || o.Moderation != tc.want {
					t.Errorf("token owner %+v, %v", o, err)
				}
			})
		}
		if _, _, err := s.SetModeration(ctx, "@nobody:test", &yes, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown account: %v", err)
		}
		if _, err := s.Moderation(ctx, "@nobody:test"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown account: %v", err)
		}
	})
}
