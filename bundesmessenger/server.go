package bundesmessenger

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// Server serves the apps' endpoints. They need no access token: the
// apps read them before login, as they did from the sidecars.
type Server struct {
	cfg         *config.Config
	Maintenance *Maintenance
	// style is map_style_file's content, checked at start.
	style []byte
}

// New reads the configured files; one that is not valid JSON stops the
// start rather than being served half.
func New(ctx context.Context, cfg *config.Config, maintenance *Maintenance) (*Server, error) {
	s := &Server{cfg: cfg, Maintenance: maintenance}
	if path := cfg.BundesMessenger.MapStyleFile; path != "" {
		raw, err := config.ReadJSONFile(path)
		if err != nil {
			return nil, fmt.Errorf("bundesmessenger.map_style_file: %w", err)
		}
		s.style = raw
	}
	return s, nil
}

// Routes mounts the endpoints on r.
func (s *Server) Routes(r *mux.Router) {
	r.Handle("/_matrix/cmaintenance", mxhttp.Handler(s.maintenance)).Methods(http.MethodGet)
	r.Handle("/_bum/configure/v1/verify", mxhttp.Handler(s.verify)).Methods(http.MethodGet)
	r.Handle("/_matrix/cconfig/style.json", mxhttp.Handler(s.mapStyle)).Methods(http.MethodGet)
}

// maintenance is GET /_matrix/cmaintenance.
func (s *Server) maintenance(r *http.Request) (any, error) {
	doc, err := s.Maintenance.Document(r.Context())
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, mxhttp.NotFound("No maintenance document is configured")
	}
	return doc, nil
}

// verify is GET /_bum/configure/v1/verify: the configured JWTs, a JSON
// list, empty when the apps' endpoints are configured without any.
func (s *Server) verify(*http.Request) (any, error) {
	if !s.cfg.BundesMessenger.Enabled() {
		return nil, mxhttp.NotFound("The BundesMessenger endpoints are not configured")
	}
	jwts := s.cfg.BundesMessenger.VerifyJWTs
	if jwts == nil {
		jwts = []string{}
	}
	return jwts, nil
}

// mapStyle is GET /_matrix/cconfig/style.json.
func (s *Server) mapStyle(*http.Request) (any, error) {
	if s.style == nil {
		return nil, mxhttp.NotFound("No map style is configured")
	}
	return json.RawMessage(s.style), nil
}
