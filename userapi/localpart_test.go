package userapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

func TestValidateLocalpart(t *testing.T) {
	tests := []struct {
		localpart string
		ok        bool
	}{
		{"alice", true},
		{"a.b_c=d-e/f+g", true},
		{"user99", true},
		{"", false},
		{"12345", false},
		{"Alice", false},
		{"us,er", false},
		{"a b", false},
		{"a:b", false},
		{"é", false},
		{strings.Repeat("a", 249), true},
		{strings.Repeat("a", 250), false},
	}
	for _, tc := range tests {
		t.Run(tc.localpart, func(t *testing.T) {
			err := ValidateLocalpart(tc.localpart, "test")
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidUsername) {
				t.Errorf("err %v does not wrap ErrInvalidUsername", err)
			}
		})
	}
}

// FuzzValidateLocalpart checks that whatever ValidateLocalpart accepts
// makes a user id that parses, round-trips and keeps to the grammar.
func FuzzValidateLocalpart(f *testing.F) {
	for _, seed := range []string{"alice", "a.b_c=d-e/f+g", "12345", "Alice", "us,er", "", "@a:b", "a\x00b", "é", strings.Repeat("z", 260)} {
		f.Add(seed, "example.org")
	}
	f.Add("bob", "localhost:8800")
	f.Add("bob", "[::1]:8448")
	f.Fuzz(func(t *testing.T, localpart, server string) {
		if _, _, ok := spec.ParseAndValidateServerName(spec.ServerName(server)); !ok {
			return
		}
		err := ValidateLocalpart(localpart, spec.ServerName(server))
		if err != nil {
			if !errors.Is(err, ErrInvalidUsername) {
				t.Fatalf("error %v does not wrap ErrInvalidUsername", err)
			}
			return
		}
		id := "@" + localpart + ":" + server
		if len(id) > maxUserIDLength {
			t.Fatalf("accepted %d-byte user id", len(id))
		}
		u, err := spec.NewUserID(id, true)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", localpart, err)
		}
		if u.Local() != localpart || string(u.Domain()) != server {
			t.Fatalf("%q split into %q and %q", id, u.Local(), u.Domain())
		}
		if strings.Trim(localpart, "abcdefghijklmnopqrstuvwxyz0123456789._=-/+") != "" {
			t.Fatalf("accepted %q outside the grammar", localpart)
		}
	})
}
