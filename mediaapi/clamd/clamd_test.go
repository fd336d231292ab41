package clamd

import "testing"

func TestParseReply(t *testing.T) {
	tests := []struct {
		reply    string
		infected bool
		sig      string
		ok       bool
	}{
		{"stream: OK", false, "", true},
		{"stream: Eicar-Signature FOUND", true, "Eicar-Signature", true},
		{"stream: Win.Test.EICAR_HDB-1 FOUND", true, "Win.Test.EICAR_HDB-1", true},
		{"stream: INSTREAM size limit exceeded. ERROR", false, "", false},
		{"UNKNOWN COMMAND", false, "", false},
		{"", false, "", false},
	}
	for _, tc := range tests {
		r, err := parseReply(tc.reply)
		if (err == nil) != tc.ok || r.Infected != tc.infected || r.Signature != tc.sig {
			t.Errorf("%q: %+v, %v", tc.reply, r, err)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add("stream: OK")
	f.Add("stream: x FOUND")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseReply(s)
		if err == nil && r.Infected && r.Signature == "" && s != "stream:  FOUND" {
			t.Fatalf("infected without a name: %q", s)
		}
	})
}

func TestNewAddress(t *testing.T) {
	for _, a := range []string{"unix:/run/clamav/clamd.ctl", "tcp:127.0.0.1:3310"} {
		if _, err := New(a, 0); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, a := range []string{"", "/run/clamd.ctl", "udp:1.2.3.4:1", "tcp:"} {
		if _, err := New(a, 0); err == nil {
			t.Errorf("%q accepted", a)
		}
	}
}
