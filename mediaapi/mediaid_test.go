package mediaapi

import (
	"strings"
	"testing"
)

func TestValidMediaID(t *testing.T) {
	tests := []struct {
		name, id string
		want     bool
	}{
		{"ours", "AbCdEfGhIjKlMnOpQrStUvWx", true},
		{"url-safe base64", "a-b_c-0", true},
		{"longest", strings.Repeat("a", 255), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", 256), false},
		{"dot dot", "..", false},
		{"slash", "a/b", false},
		{"percent", "%2e%2e", false},
		{"backslash", `a\b`, false},
		{"space", "a b", false},
		{"nul", "a\x00", false},
		{"non-ascii", "äöü", false},
		{"fullwidth dot", "a\uff0eb", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidMediaID(tc.id); got != tc.want {
				t.Errorf("ValidMediaID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

// FuzzValidMediaID checks that an accepted id is safe in a path and a URL:
// nothing to escape, nothing that cleans to another path.
func FuzzValidMediaID(f *testing.F) {
	for _, seed := range []string{"AbCdEfGhIjKlMnOpQrStUvWx", "..", "a/b", "%2F", "", "a\x00b", "\u00e4"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !ValidMediaID(id) {
			return
		}
		if id == "" || len(id) > maxMediaIDLength || strings.ContainsAny(id, "./\\%?#:@ \x00") {
			t.Fatalf("accepted %q", id)
		}
		if strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			t.Fatalf("accepted %q with other characters", id)
		}
	})
}
