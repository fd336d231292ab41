package clientapi

import (
	"strings"
	"testing"
	"unicode"
)

func TestValidServerName(t *testing.T) {
	for name, want := range map[string]bool{
		"example.org": true, "example.org:8448": true, "1.2.3.4": true, "[::1]:8448": true, "localhost": true,
		"": false, "\x00": false, "exa mple.org": false, "exa_mple.org": false, "example.org:99999": false,
		"example.org:": false, "[::1": false, "@alice:example.org": false, "example.org/x": false,
		strings.Repeat("a", 256): false,
	} {
		if got := validServerName(name); got != want {
			t.Errorf("validServerName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzValidServerName: a name taken as valid holds no control character,
// space, slash, "@" or "#", so it is safe in a URL host and a log line.
func FuzzValidServerName(f *testing.F) {
	for _, s := range []string{"example.org", "example.org:8448", "[::1]:8448", "\x00", "a b", "x:y:z", "[fe80::1%25eth0]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !validServerName(s) {
			return
		}
		if len(s) > 255 || strings.ContainsAny(s, "/@#?% ") {
			t.Fatalf("validServerName(%q) = true", s)
		}
		for _, r := range s {
			if unicode.IsControl(r) || unicode.IsSpace(r) || r > unicode.MaxASCII {
				t.Fatalf("validServerName(%q) = true", s)
			}
		}
	})
}
