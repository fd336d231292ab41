package mxhttp

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
)

// NewRouter is the router every HTTP surface of rohrpost mounts its routes
// on. It matches on the escaped path, so an identifier holding an escaped
// "/" (a state key, a transaction id, an alias) stays one path segment,
// and hands handlers the unescaped values in mux.Vars. It does not clean
// paths: gorilla/mux would answer a path with "..", "." or "//" segments
// with a redirect and no Matrix error; here such a path is matched as
// sent, and one no route knows is M_UNRECOGNIZED. Unknown paths and
// methods get M_UNRECOGNIZED.
func NewRouter() *mux.Router {
	r := mux.NewRouter().UseEncodedPath().SkipClean(true)
	UnknownEndpoints(r)
	r.Use(noteRoute, unescapeVars)
	return r
}

// RouteNoter is a ResponseWriter that wants to know which route took the
// request: the HTTP metrics (internal/metrics) label requests by route
// template, which only the router knows.
type RouteNoter interface{ NoteRoute(*mux.Route) }

func noteRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, ok := w.(RouteNoter); ok {
			if route := mux.CurrentRoute(r); route != nil {
				n.NoteRoute(route)
			}
		}
		next.ServeHTTP(w, r)
	})
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

// probeMethods are the methods tried to tell a known path called with the
// wrong method from an unknown path.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}

// UnknownEndpoints makes r answer unknown paths with 404 and known paths
// called with the wrong method with 405 and an Allow header, both
// M_UNRECOGNIZED.
//
// gorilla/mux cannot be trusted with the 405 itself: when two subrouters
// share a path prefix (the r0 and v3 client APIs, the sync and client
// APIs), a method mismatch in the first is overwritten by "not found" in
// the next. So when nothing matched, the path is matched again with each
// other method.
func UnknownEndpoints(r *mux.Router) {
	u := &unknownEndpoint{router: r}
	r.NotFoundHandler = u
	r.MethodNotAllowedHandler = u
}

type unknownEndpoint struct{ router *mux.Router }

func (u *unknownEndpoint) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if allowed := u.allowedMethods(req); len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		WriteError(w, req, Unrecognized(http.StatusMethodNotAllowed))
		return
	}
	WriteError(w, req, Unrecognized(http.StatusNotFound))
}

// allowedMethods are the methods some route serves req's path with.
func (u *unknownEndpoint) allowedMethods(req *http.Request) []string {
	var allowed []string
	for _, m := range probeMethods {
		if m == req.Method {
			continue
		}
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if u.router.Match(probe, &match) && match.MatchErr == nil && match.Handler != nil && match.Handler != http.Handler(u) {
			allowed = append(allowed, m)
		}
	}
	return allowed
}
