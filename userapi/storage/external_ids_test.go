package storage

import (
	"context"
	"errors"
	"testing"
)

func TestExternalIDsAndSSOSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice := ExternalID{AuthProvider: "oidc-kc", ExternalID: "sub-a", UserID: "@alice:test"}
		email := &ThreePID{Medium: "email", Address: "alice@test", UserID: "@alice:test", AddedTS: 1, ValidatedTS: 1}
		if err := s.CreateLinkedAccount(ctx, Account{UserID: "@alice:test", CreatedTS: 1}, "Alice", alice, email); err != nil {
			t.Fatal(err)
		}
		// A second creation of the same user id makes nothing, not even
		// the second link: the transaction is all or nothing.
		err := s.CreateLinkedAccount(ctx, Account{UserID: "@alice:test", CreatedTS: 2}, "", ExternalID{AuthProvider: "oidc-kc", ExternalID: "sub-x", UserID: "@alice:test"}, nil)
		if !errors.Is(err, ErrExists) {
			t.Fatalf("second creation: %v", err)
		}
		if _, err := s.ExternalIDUser(ctx, "oidc-kc", "sub-x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("link of the failed creation: %v", err)
		}
		if owner, err := s.ThreePIDOwner(ctx, "email", "alice@test"); err != nil || owner != "@alice:test" {
			t.Fatalf("email owner %q %v", owner, err)
		}
		if err := s.CreateAccount(ctx, Account{UserID: "@bob:test", CreatedTS: 1}, "Bob", nil); err != nil {
			t.Fatal(err)
		}
		links := []struct {
			name string
			link ExternalID
			want error
		}{
			{"existing account", ExternalID{"oidc-other", "sub-b", "@bob:test"}, nil},
			{"again", ExternalID{"oidc-other", "sub-b", "@bob:test"}, nil},
			{"taken by another", ExternalID{"oidc-kc", "sub-a", "@bob:test"}, ErrExists},
			{"no account", ExternalID{"oidc-kc", "sub-c", "@carol:test"}, ErrNotFound},
		}
		for _, tc := range links {
			t.Run(tc.name, func(t *testing.T) {
				if err := s.LinkExternalID(ctx, tc.link); !errors.Is(err, tc.want) {
					t.Fatalf("LinkExternalID = %v, want %v", err, tc.want)
				}
			})
		}
		if user, err := s.ExternalIDUser(ctx, "oidc-kc", "sub-a"); err != nil || user != "@alice:test" {
			t.Fatalf("ExternalIDUser = %q %v", user, err)
		}
		if ids, err := s.ExternalIDs(ctx, "@bob:test"); err != nil || len(ids) != 1 || ids[0].ExternalID != "sub-b" {
			t.Fatalf("ExternalIDs = %v %v", ids, err)
		}

		// Login tokens carry their provider session to the device.
		if err := s.PutLoginToken(ctx, []byte("t1"), "@alice:test", AuthOrigin{"oidc-kc", "sid-1"}, 100, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.PutLoginToken(ctx, []byte("t2"), "@alice:test", AuthOrigin{}, 100, 0); err != nil {
			t.Fatal(err)
		}
		if user, origin, err := s.TakeLoginToken(ctx, []byte("t1"), 50); err != nil || user != "@alice:test" || origin != (AuthOrigin{"oidc-kc", "sid-1"}) {
			t.Fatalf("TakeLoginToken = %q %v %v", user, origin, err)
		}
		if _, origin, err := s.TakeLoginToken(ctx, []byte("t2"), 50); err != nil || origin != (AuthOrigin{}) {
			t.Fatalf("TakeLoginToken without origin = %v %v", origin, err)
		}
		for i, d := range []Device{
			{UserID: "@alice:test", DeviceID: "SSO1", TokenHash: []byte("h1"), Origin: AuthOrigin{"oidc-kc", "sid-1"}},
			{UserID: "@alice:test", DeviceID: "SSO2", TokenHash: []byte("h2"), Origin: AuthOrigin{"oidc-kc", "sid-2"}},
			{UserID: "@alice:test", DeviceID: "PASS", TokenHash: []byte("h3")},
			{UserID: "@bob:test", DeviceID: "BOB", TokenHash: []byte("h4"), Origin: AuthOrigin{"oidc-kc", "sid-1"}},
		} {
			d.CreatedTS = int64(i)
			if _, err := s.CreateDevice(ctx, &d); err != nil {
				t.Fatal(err)
			}
		}
		logouts := []struct {
			name, session, user string
			want                []string
		}{
			{"session of another user", "sid-1", "@carol:test", nil},
			{"one session of one user", "sid-1", "@alice:test", []string{"SSO1"}},
			{"all of a user's sessions", "", "@alice:test", []string{"SSO2"}},
			{"one session of anyone", "sid-1", "", []string{"BOB"}},
		}
		for _, tc := range logouts {
			t.Run(tc.name, func(t *testing.T) {
				revoked, err := s.DeleteSSOSessions(ctx, "oidc-kc", tc.session, tc.user)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range revoked {
					got = append(got, r.DeviceID)
				}
				if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
					t.Fatalf("logged out %v, want %v", got, tc.want)
				}
			})
		}
		if _, err := s.Device(ctx, "@alice:test", "PASS"); err != nil {
			t.Fatalf("the password login must stay: %v", err)
		}
	})
}
