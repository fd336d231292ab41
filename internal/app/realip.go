package app

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// withRealIP makes r.RemoteAddr the client's address when the request came
// through a trusted proxy (the gateway of separate services), so that
// last-seen addresses and admin whois name clients, not the proxy. The
// nearest untrusted address in X-Forwarded-For is taken: entries a client
// wrote itself come before those the proxies appended.
func withRealIP(trusted []netip.Prefix, h http.Handler) http.Handler {
	if len(trusted) == 0 {
		return h
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		xff := r.Header.Values("X-Forwarded-For")
		if err != nil || len(xff) == 0 || !isTrusted(peer.Addr()) {
			h.ServeHTTP(w, r)
			return
		}
		hops := strings.Split(strings.Join(xff, ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			if !isTrusted(a) || i == 0 {
				r2 := r.Clone(r.Context())
				r2.RemoteAddr = net.JoinHostPort(a.String(), "0")
				h.ServeHTTP(w, r2)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
