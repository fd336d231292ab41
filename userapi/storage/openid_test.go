package storage

import (
	"context"
	"errors"
	"testing"
)

func TestOpenIDTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.PutOpenIDToken(ctx, []byte("old"), "@alice:test", 100, 50); err != nil {
			t.Fatal(err)
		}
		if err := s.PutOpenIDToken(ctx, []byte("new"), "@bob:test", 300, 200); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name     string
			hash     string
			now      int64
			wantUser string
			wantErr  error
		}{
			{"valid", "new", 250, "@bob:test", nil},
			{"expired", "new", 300, "", ErrNotFound},
			{"unknown", "nope", 0, "", ErrNotFound},
			// Storing the second token swept the first, expired by then.
			{"swept", "old", 0, "", ErrNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				user, err := s.OpenIDTokenOwner(ctx, []byte(tc.hash), tc.now)
				if user != tc.wantUser || !errors.Is(err, tc.wantErr) {
					t.Errorf("owner = %q, %v; want %q, %v", user, err, tc.wantUser, tc.wantErr)
				}
			})
		}
	})
}
