package storage

import (
	"context"
	"errors"
	"testing"
)

func strp(s string) *string { return &s }

func TestCreateAccount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		dev := &Device{UserID: "@alice:test", DeviceID: "DEV", DisplayName: strp("phone"), TokenHash: []byte("h1"), CreatedTS: 1}
		if err := s.CreateAccount(ctx, Account{UserID: "@alice:test", PasswordHash: "pw", IsAdmin: true, CreatedTS: 1}, "Alice", dev); err != nil {
			t.Fatal(err)
		}
		if dev.SessionID == 0 {
			t.Error("session id not set")
		}
		tests := []struct {
			name    string
			acc     Account
			wantErr error
		}{
			{"taken", Account{UserID: "@alice:test", CreatedTS: 2}, ErrExists},
			{"guest", Account{UserID: "@123:test", IsGuest: true, CreatedTS: 2}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := s.CreateAccount(ctx, tc.acc, "", nil)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			})
		}
		a, err := s.Account(ctx, "@alice:test")
		if err != nil {
			t.Fatal(err)
		}
		if a.PasswordHash != "pw" || !a.IsAdmin || a.IsGuest || a.Deactivated {
			t.Errorf("account = %+v", a)
		}
		g, err := s.Account(ctx, "@123:test")
		if err != nil || !g.IsGuest || g.IsAdmin {
			t.Errorf("guest = %+v, %v", g, err)
		}
		if _, err := s.Account(ctx, "@nobody:test"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown account: err = %v", err)
		}
		p, err := s.Profile(ctx, "@alice:test")
		if err != nil || p.DisplayName != "Alice" || p.AvatarURL != "" {
			t.Errorf("profile = %+v, %v", p, err)
		}
		o, err := s.TokenOwner(ctx, []byte("h1"))
		if err != nil {
			t.Fatal(err)
		}
		if o.UserID != "@alice:test" || o.DeviceID != "DEV" || o.DisplayName != "phone" || !o.IsAdmin || o.SessionID != dev.SessionID {
			t.Errorf("token owner = %+v", o)
		}
	})
}

func TestPasswordAndDeactivate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		user := "@bob:test"
		if err := s.CreateAccount(ctx, Account{UserID: user, PasswordHash: "old", CreatedTS: 1}, "", &Device{UserID: user, DeviceID: "A", TokenHash: []byte("a")}); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"B", "C"} {
			if _, err := s.CreateDevice(ctx, &Device{UserID: user, DeviceID: d, TokenHash: []byte(d)}); err != nil {
				t.Fatal(err)
			}
		}

		revoked, err := s.SetPasswordHash(ctx, user, "new", false, "")
		if err != nil || len(revoked) != 0 {
			t.Fatalf("set password without logout: %v, %v", revoked, err)
		}
		revoked, err = s.SetPasswordHash(ctx, user, "newer", true, "A")
		if err != nil || len(revoked) != 2 {
			t.Fatalf("set password with logout: revoked %d, %v", len(revoked), err)
		}
		devs, _ := s.Devices(ctx, user)
		if len(devs) != 1 || devs[0].DeviceID != "A" {
			t.Errorf("devices after password change = %+v", devs)
		}
		if a, _ := s.Account(ctx, user); a.PasswordHash != "newer" {
			t.Errorf("hash = %q", a.PasswordHash)
		}
		if _, err := s.SetPasswordHash(ctx, "@nobody:test", "x", false, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}

		revoked, err = s.Deactivate(ctx, user)
		if err != nil || len(revoked) != 1 || string(revoked[0].TokenHash) != "a" {
			t.Fatalf("deactivate: %v, %v", revoked, err)
		}
		a, _ := s.Account(ctx, user)
		if !a.Deactivated || a.PasswordHash != "" {
			t.Errorf("after deactivate = %+v", a)
		}
		if _, err := s.SetPasswordHash(ctx, user, "x", false, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("password of deactivated account: %v", err)
		}
		if _, err := s.CreateDevice(ctx, &Device{UserID: user, DeviceID: "D", TokenHash: []byte("d")}); !errors.Is(err, ErrNotFound) {
			t.Errorf("login of deactivated account: %v", err)
		}
		if _, err := s.Deactivate(ctx, "@nobody:test"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deactivate unknown: %v", err)
		}
	})
}

func TestUpgradeGuest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		guestDev := &Device{UserID: "@123:test", DeviceID: "GUEST", TokenHash: []byte("g1"), CreatedTS: 1}
		if err := s.CreateAccount(ctx, Account{UserID: "@123:test", IsGuest: true, CreatedTS: 1}, "", guestDev); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAccount(ctx, Account{UserID: "@alice:test", PasswordHash: "pw", CreatedTS: 1}, "alice", nil); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name    string
			user    string
			wantErr error
		}{
			{"not a guest", "@alice:test", ErrNotFound},
			{"unknown", "@nobody:test", ErrNotFound},
			{"guest", "@123:test", nil},
			{"already upgraded", "@123:test", ErrNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				dev := &Device{UserID: tc.user, DeviceID: "NEW", TokenHash: []byte("n-" + tc.name), CreatedTS: 2}
				stale, err := s.UpgradeGuest(ctx, tc.user, "hash", "123", dev)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if err != nil {
					return
				}
				if len(stale) != 1 || stale[0].SessionID != guestDev.SessionID {
					t.Errorf("stale = %+v, want the guest device", stale)
				}
				if dev.SessionID == 0 {
					t.Error("new device has no session id")
				}
			})
		}
		a, err := s.Account(ctx, "@123:test")
		if err != nil || a.IsGuest || a.PasswordHash != "hash" {
			t.Errorf("upgraded account = %+v, %v", a, err)
		}
		if p, err := s.Profile(ctx, "@123:test"); err != nil || p.DisplayName != "123" {
			t.Errorf("upgraded profile = %+v, %v", p, err)
		}
		// The guest's own login keeps working, now as a full user.
		if o, err := s.TokenOwner(ctx, []byte("g1")); err != nil || o.IsGuest {
			t.Errorf("guest token owner = %+v, %v", o, err)
		}
	})
}
