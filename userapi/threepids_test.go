package userapi

import "testing"

func TestCanonicalEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Anna.Schmidt@Behoerde.example", "anna.schmidt@behoerde.example", true},
		{"a@b.example", "a@b.example", true},
		{"Anna <a@b.example>", "", false},
		{"<a@b.example>", "", false},
		{"a@b.example, c@d.example", "", false},
		{"keine adresse", "", false},
		{"", "", false},
		{"a@b.example\r\nBcc: c@d.example", "", false},
	}
	for _, tc := range tests {
		got, err := CanonicalEmail(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CanonicalEmail(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// A canonical address is canonical: storing and comparing agree.
func FuzzCanonicalEmail(f *testing.F) {
	for _, s := range []string{"a@b.example", "Anna <a@b>", "\"x y\"@b.example", "a@[127.0.0.1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalEmail(s)
		if err != nil {
			return
		}
		again, err := CanonicalEmail(c)
		if err != nil || again != c {
			t.Fatalf("CanonicalEmail(%q) = %q, but that gives %q, %v", s, c, again, err)
		}
	})
}
