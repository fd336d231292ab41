package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Routes mounts the client API on r. The table follows the order of the
// spec's client-server API sections.
func (s *Server) Routes(r *mux.Router) {
	c := r.PathPrefix("/_matrix/client").Subrouter()
	auth := func(h func(*http.Request, *userapi.Device) (any, error)) mxhttp.Handler {
		return userapi.Authed(s.users, h)
	}
	_ = auth
	_ = c
	// ACCOUNT ROUTES
	// ROOM ROUTES
}
