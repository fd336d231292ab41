package storage

import (
	"context"
	"errors"
	"testing"
)

// The dehydrated device's row follows its device: replaced by the next
// one, gone with a deleted device, and given up when a login takes its id.
func TestDehydratedDevice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		user := "@erin:test"
		if err := s.CreateAccount(ctx, Account{UserID: user, CreatedTS: 1}, "", &Device{UserID: user, DeviceID: "PHONE", TokenHash: []byte("p")}); err != nil {
			t.Fatal(err)
		}
		dehydrate := func(id, hash, data string) ([]Revoked, error) {
			return s.PutDehydratedDevice(ctx, &Device{UserID: user, DeviceID: id, TokenHash: []byte(hash), CreatedTS: 2}, data)
		}
		current := func() string {
			d, err := s.DehydratedDevice(ctx, user)
			if errors.Is(err, ErrNotFound) {
				return ""
			}
			if err != nil {
				t.Fatal(err)
			}
			return d.DeviceID + " " + d.DeviceData
		}

		if _, err := dehydrate("PHONE", "x", `{}`); !errors.Is(err, ErrDeviceInUse) {
			t.Errorf("a logged-in device's id: %v, want ErrDeviceInUse", err)
		}
		if replaced, err := dehydrate("D1", "h1", `{"n":1}`); err != nil || len(replaced) != 0 {
			t.Fatalf("first: %v %v", replaced, err)
		}
		replaced, err := dehydrate("D2", "h2", `{"n":2}`)
		if err != nil || len(replaced) != 1 || replaced[0].DeviceID != "D1" {
			t.Fatalf("replace: %+v %v", replaced, err)
		}
		if got := current(); got != `D2 {"n":2}` {
			t.Errorf("after replacing: %q", got)
		}
		// The same id again replaces the device in place.
		if replaced, err := dehydrate("D2", "h3", `{"n":3}`); err != nil || len(replaced) != 1 || replaced[0].DeviceID != "D2" {
			t.Fatalf("same id: %+v %v", replaced, err)
		}
		devs, err := s.Devices(ctx, user)
		if err != nil || len(devs) != 2 {
			t.Fatalf("devices: %+v %v", devs, err)
		}

		// A login under the dehydrated device's id takes it over.
		if _, err := s.CreateDevice(ctx, &Device{UserID: user, DeviceID: "D2", TokenHash: []byte("login"), CreatedTS: 3}); err != nil {
			t.Fatal(err)
		}
		if got := current(); got != "" {
			t.Errorf("after a login took the id: %q", got)
		}
		if _, _, err := s.DeleteDehydratedDevice(ctx, user); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete without one: %v", err)
		}

		// Deleting the device (logout everywhere) deletes the row, so a
		// later login under that id is not taken for it.
		if _, err := dehydrate("D4", "h4", `{}`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteAllDevices(ctx, user); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDevice(ctx, &Device{UserID: user, DeviceID: "D4", TokenHash: []byte("later"), CreatedTS: 4}); err != nil {
			t.Fatal(err)
		}
		if got := current(); got != "" {
			t.Errorf("a login under a deleted dehydrated device's id: %q", got)
		}

		if _, err := dehydrate("D5", "h5", `{}`); err != nil {
			t.Fatal(err)
		}
		id, revoked, err := s.DeleteDehydratedDevice(ctx, user)
		if err != nil || id != "D5" || len(revoked) != 1 {
			t.Fatalf("delete: %s %+v %v", id, revoked, err)
		}
		if got := current(); got != "" {
			t.Errorf("after delete: %q", got)
		}
	})
}
