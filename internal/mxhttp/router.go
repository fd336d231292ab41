package mxhttp

import (
	"net/http"
	"net/url"

	"github.com/gorilla/mux"
)

// NewRouter is the router every HTTP surface of rohrpost mounts its routes
// on. It matches on the escaped path, so an identifier holding an escaped
// "/" (a state key, a transaction id, an alias) stays one path segment,
// and hands handlers the unescaped values in mux.Vars. Unknown paths and
// methods get M_UNRECOGNIZED.
func NewRouter() *mux.Router {
	r := mux.NewRouter().UseEncodedPath()
	UnknownEndpoints(r)
	r.Use(unescapeVars)
	return r
}

// unescapeVars decodes the route variables of an escaped-path match; a
// variable that is not valid percent-encoding is a bad parameter.
func unescapeVars(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vars := mux.Vars(r)
		if len(vars) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		decoded := make(map[string]string, len(vars))
		for k, v := range vars {
			d, err := url.PathUnescape(v)
			if err != nil {
				WriteError(w, r, InvalidParam("path parameter "+k+" is not valid percent-encoding"))
				return
			}
			decoded[k] = d
		}
		next.ServeHTTP(w, mux.SetURLVars(r, decoded))
	})
}
