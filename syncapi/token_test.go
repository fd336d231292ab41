package syncapi

import "testing"

func TestParseToken(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Token
		ok   bool
	}{
		{"full", "s12_3_4_5_6_7_8_9", Token{12, 3, 4, 5, 6, 7, 8, 9}, true},
		{"without the e2ee streams", "s12_3_4_5_6_7", Token{12, 3, 4, 5, 6, 7, 0, 0}, true},
		{"without peek", "s12_3_4_5_6", Token{PDU: 12, Typing: 3, Receipt: 4, AccountData: 5, Presence: 6}, true},
		{"old short form", "s12", Token{PDU: 12}, true},
		{"zeroes", "s0_0_0_0", Token{}, true},
		{"empty", "", Token{}, false},
		{"no prefix", "12_3", Token{}, false},
		{"garbage", "sabc", Token{}, false},
		{"history position", "s-1", Token{PDU: -1}, true},
		{"negative in another stream", "s1_-1", Token{}, false},
		{"below the history floor", "s-2147483649", Token{}, false},
		{"negative zero", "s-0", Token{}, false},
		{"double minus", "s--1", Token{}, false},
		{"too many parts", "s1_2_3_4_5_6_7_8_9", Token{}, false},
		{"leading zero", "s01", Token{}, false},
		{"plus sign", "s+1", Token{}, false},
		{"empty part", "s1__2", Token{}, false},
		{"overflow", "s99999999999999999999", Token{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseToken(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseToken(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if tc.ok && got != tc.want {
				t.Fatalf("ParseToken(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if tc.ok && got.String() != tc.in && tc.name == "full" {
				t.Fatalf("round trip %q -> %q", tc.in, got.String())
			}
		})
	}
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"s1_2_3_4", "s0", "s", "x", "s1__", "s18446744073709551616", "s-5_1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		again, err := ParseToken(tok.String())
		if err != nil || again != tok {
			t.Fatalf("token %q re-parses as %+v, %v", tok.String(), again, err)
		}
	})
}
