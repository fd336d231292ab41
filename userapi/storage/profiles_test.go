package storage

import (
	"context"
	"errors"
	"testing"
)

func TestSetProfile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.CreateAccount(ctx, Account{UserID: "@erin:test"}, "erin", nil); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name        string
			displayName *string
			avatarURL   *string
			want        Profile
		}{
			{"nothing", nil, nil, Profile{DisplayName: "erin"}},
			{"avatar only", nil, strp("mxc://test/a"), Profile{DisplayName: "erin", AvatarURL: "mxc://test/a"}},
			{"name only", strp("Erin"), nil, Profile{DisplayName: "Erin", AvatarURL: "mxc://test/a"}},
			{"clear both", strp(""), strp(""), Profile{}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p, err := s.SetProfile(ctx, "@erin:test", tc.displayName, tc.avatarURL)
				if err != nil {
					t.Fatal(err)
				}
				if *p != tc.want {
					t.Errorf("returned %+v, want %+v", *p, tc.want)
				}
				if got, _ := s.Profile(ctx, "@erin:test"); *got != tc.want {
					t.Errorf("stored %+v, want %+v", *got, tc.want)
				}
			})
		}
		if _, err := s.SetProfile(ctx, "@nobody:test", strp("x"), nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		if _, err := s.Profile(ctx, "@nobody:test"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
	})
}
