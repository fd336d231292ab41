package adminapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// Routes mounts the admin API on r under /_synapse/admin. The
// shared-secret registration (/_synapse/admin/v1/register) stays with the
// client API, which owns the nonces.
func (s *Server) Routes(r *mux.Router) {
	a := r.PathPrefix("/_synapse/admin").Subrouter()
	// Synapse answers the version without authentication (synapse-admin
	// shows it before logging in).
	a.Handle("/v1/server_version", mxhttp.Handler(s.serverVersion)).Methods(http.MethodGet)
	a.Handle("/v1/audit_log", s.read(s.auditLog)).Methods(http.MethodGet)
}

func (s *Server) serverVersion(*http.Request) (any, error) {
	return map[string]string{"server_version": serverVersion()}, nil
}
