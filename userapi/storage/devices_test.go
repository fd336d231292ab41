package storage

import (
	"context"
	"errors"
	"testing"
)

func TestDevices(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		user := "@carol:test"
		if err := s.CreateAccount(ctx, Account{UserID: user, CreatedTS: 1}, "", nil); err != nil {
			t.Fatal(err)
		}
		first := &Device{UserID: user, DeviceID: "PHONE", DisplayName: strp("Phone"), TokenHash: []byte("t1"), CreatedTS: 1}
		if replaced, err := s.CreateDevice(ctx, first); err != nil || replaced != nil {
			t.Fatalf("create: %v, %v", replaced, err)
		}
		// Logging in again with the same device id replaces the token and
		// keeps the display name.
		again := &Device{UserID: user, DeviceID: "PHONE", DisplayName: strp("ignored"), TokenHash: []byte("t2"), CreatedTS: 2}
		replaced, err := s.CreateDevice(ctx, again)
		if err != nil || replaced == nil || string(replaced.TokenHash) != "t1" || replaced.SessionID != first.SessionID {
			t.Fatalf("re-login: %+v, %v", replaced, err)
		}
		if again.SessionID == first.SessionID || again.DisplayName == nil || *again.DisplayName != "Phone" {
			t.Errorf("re-login device = %+v", again)
		}
		if _, err := s.TokenOwner(ctx, []byte("t1")); !errors.Is(err, ErrNotFound) {
			t.Errorf("old token still valid: %v", err)
		}
		if _, err := s.CreateDevice(ctx, &Device{UserID: user, DeviceID: "LAPTOP", TokenHash: []byte("t3"), CreatedTS: 3}); err != nil {
			t.Fatal(err)
		}
		// The same device id for another user is another device.
		if err := s.CreateAccount(ctx, Account{UserID: "@dave:test", CreatedTS: 1}, "", &Device{UserID: "@dave:test", DeviceID: "PHONE", TokenHash: []byte("t4")}); err != nil {
			t.Fatal(err)
		}
		// Tokens are unique.
		if _, err := s.CreateDevice(ctx, &Device{UserID: user, DeviceID: "DUP", TokenHash: []byte("t3")}); err == nil {
			t.Error("duplicate token hash accepted")
		}

		devs, err := s.Devices(ctx, user)
		if err != nil || len(devs) != 2 || devs[0].DeviceID != "LAPTOP" || devs[1].DeviceID != "PHONE" {
			t.Fatalf("devices = %+v, %v", devs, err)
		}
		if devs[0].DisplayName != nil {
			t.Errorf("LAPTOP name = %q", *devs[0].DisplayName)
		}

		if err := s.TouchDevice(ctx, again.SessionID, 42, "10.0.0.1", "curl"); err != nil {
			t.Fatal(err)
		}
		d, err := s.Device(ctx, user, "PHONE")
		if err != nil || d.LastSeenTS != 42 || d.LastSeenIP != "10.0.0.1" || d.LastSeenUserAgent != "curl" {
			t.Errorf("touched device = %+v, %v", d, err)
		}

		tests := []struct {
			name    string
			device  string
			newName string
			wantErr error
		}{
			{"rename", "LAPTOP", "Laptop", nil},
			{"unknown", "NOPE", "x", ErrNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				d, err := s.SetDeviceName(ctx, user, tc.device, tc.newName)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if err == nil && (d.DisplayName == nil || *d.DisplayName != tc.newName) {
					t.Errorf("device = %+v", d)
				}
			})
		}

		revoked, err := s.DeleteDevices(ctx, user, []string{"LAPTOP", "NOPE"})
		if err != nil || len(revoked) != 1 || string(revoked[0].TokenHash) != "t3" {
			t.Fatalf("delete devices: %+v, %v", revoked, err)
		}
		revoked, err = s.DeleteSession(ctx, again.SessionID)
		if err != nil || len(revoked) != 1 {
			t.Fatalf("delete session: %+v, %v", revoked, err)
		}
		if devs, _ := s.Devices(ctx, user); len(devs) != 0 {
			t.Errorf("devices left: %+v", devs)
		}
		revoked, err = s.DeleteAllDevices(ctx, "@dave:test")
		if err != nil || len(revoked) != 1 {
			t.Fatalf("delete all: %+v, %v", revoked, err)
		}
	})
}
