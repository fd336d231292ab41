package clientapi

import (
	"net/http"
	"net/url"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// serverNameParams serves h when every value of the named query
// parameters is a server name as the spec's grammar has it, and answers
// 400 M_INVALID_PARAM otherwise: a name with a NUL byte, a space or an
// underscore names no server, and must not reach the federation client
// or a log line.
func serverNameParams(h http.Handler, names ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			mxhttp.WriteError(w, r, mxhttp.InvalidParam("The query string is not valid percent-encoding"))
			return
		}
		for _, name := range names {
			for _, v := range q[name] {
				if !validServerName(v) {
					mxhttp.WriteError(w, r, mxhttp.InvalidParam(name+" must be a server name"))
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// validServerName tells whether s is a server name: a DNS name or an IP
// literal, with an optional port.
func validServerName(s string) bool {
	if len(s) > 255 {
		return false
	}
	_, _, ok := spec.ParseAndValidateServerName(spec.ServerName(s))
	return ok
}
