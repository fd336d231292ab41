package app

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestRealIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	tests := []struct {
		name, peer, xff, want string
	}{
		{"direct client", "192.0.2.7:5000", "", "192.0.2.7:5000"},
		{"untrusted peer's header is ignored", "192.0.2.7:5000", "198.51.100.1", "192.0.2.7:5000"},
		{"through the gateway", "127.0.0.1:5000", "198.51.100.1", "198.51.100.1:0"},
		{"two proxies", "10.1.1.1:5000", "198.51.100.1, 10.2.2.2", "198.51.100.1:0"},
		{"client-forged entries before the real one", "127.0.0.1:5000", "203.0.113.9, 198.51.100.1", "198.51.100.1:0"},
		{"garbage stops the walk", "127.0.0.1:5000", "nonsense", "127.0.0.1:5000"},
		{"only proxies", "127.0.0.1:5000", "10.3.3.3", "10.3.3.3:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			h := withRealIP(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.peer
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
