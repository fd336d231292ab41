package serverkey

import (
	"path/filepath"
	"testing"
)

// Every generated key must read back: the version may only hold
// [A-Za-z0-9_], which a careless encoding breaks now and then.
func TestGeneratedKeysParse(t *testing.T) {
	for i := 0; i < 500; i++ {
		id, priv, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		gotID, gotPriv, err := Parse(Format(id, priv))
		if err != nil || gotID != id || !gotPriv.Equal(priv) {
			t.Fatalf("key %s does not round-trip: %v", id, err)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"synapse format", "ed25519 a_sytest nFGSOiP8QOHNwRGHfEyIzZyH+WiTNCH3YxYXlY4UG0M\n", true},
		{"padded seed", "ed25519 auto nFGSOiP8QOHNwRGHfEyIzZyH+WiTNCH3YxYXlY4UG0M=\n", true},
		{"comment first", "# key\ned25519 a nFGSOiP8QOHNwRGHfEyIzZyH+WiTNCH3YxYXlY4UG0M\n", true},
		{"wrong algorithm", "rsa a nFGSOiP8QOHNwRGHfEyIzZyH+WiTNCH3YxYXlY4UG0M\n", false},
		{"bad version", "ed25519 a-b nFGSOiP8QOHNwRGHfEyIzZyH+WiTNCH3YxYXlY4UG0M\n", false},
		{"short seed", "ed25519 a AAAA\n", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("Parse(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestLoadOrCreateNeverReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.key")
	first, err := LoadOrCreate(path, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreate(path, "example.org")
	if err != nil || again.ID != first.ID || !again.Private.Equal(first.Private) {
		t.Fatalf("second load gave another key: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("ed25519 a_sytest nFGSOiP8QOHNwRGHfEyIzZyH+WiTNCH3YxYXlY4UG0M")
	f.Add("ed25519")
	f.Fuzz(func(t *testing.T, s string) {
		id, priv, err := Parse([]byte(s))
		if err == nil && (id == "" || len(priv) == 0) {
			t.Fatalf("Parse(%q) succeeded with an empty key", s)
		}
	})
}
