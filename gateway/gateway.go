// Package gateway is the single HTTP entry point of a separate-services
// deployment: it sends each request to a process of the component that
// serves its path, spreading the load over replicas.
package gateway

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/clientapi"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/syncapi"
)

// Gateway routes requests to components.
type Gateway struct {
	router *mux.Router
}

// New builds the routing table from the components' own route tables, so
// that the gateway cannot disagree with them about who serves a path.
func New(cfg config.Gateway) (*Gateway, error) {
	if len(cfg.ClientAPI) == 0 || len(cfg.SyncAPI) == 0 {
		return nil, errors.New("config key gateway: clientapi and syncapi need at least one URL each")
	}
	client, err := newPool("clientapi", cfg.ClientAPI, false)
	if err != nil {
		return nil, err
	}
	sync, err := newPool("syncapi", cfg.SyncAPI, true)
	if err != nil {
		return nil, err
	}
	r := mux.NewRouter()
	mxhttp.UnknownEndpoints(r)
	// Routes are registered in the order the monolith registers them, so
	// the first match is the same.
	if err := copyRoutes(r, sync, func(t *mux.Router) { (&syncapi.Server{}).Routes(t) }); err != nil {
		return nil, err
	}
	if err := copyRoutes(r, client, func(t *mux.Router) { (&clientapi.Server{}).Routes(t) }); err != nil {
		return nil, err
	}
	if len(cfg.FederationAPI) > 0 {
		fed, err := newPool("federationapi", cfg.FederationAPI, false)
		if err != nil {
			return nil, err
		}
		if err := copyRoutes(r, fed, func(t *mux.Router) { (&federationapi.Server{}).Routes(t) }); err != nil {
			return nil, err
		}
	}
	return &Gateway{router: r}, nil
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.router.ServeHTTP(w, r) }

// copyRoutes registers every route of a component's table, with its
// methods, to be proxied to the component's pool.
func copyRoutes(r *mux.Router, to http.Handler, register func(*mux.Router)) error {
	table := mux.NewRouter()
	register(table)
	return table.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return nil // a subrouter's prefix, not a route
		}
		methods, err := route.GetMethods()
		if err != nil || route.GetHandler() == nil {
			return nil
		}
		r.Handle(tmpl, to).Methods(methods...)
		return nil
	})
}

// pool is the processes of one component.
type pool struct {
	name    string
	proxies []*httputil.ReverseProxy
	next    atomic.Uint64
	// sticky sends a user's requests to the same process, where the
	// per-device caches of the sync API are warm.
	sticky bool
}

func newPool(name string, urls []string, sticky bool) (*pool, error) {
	p := &pool{name: name, sticky: sticky}
	transport := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("config key gateway.%s: %q is not an http(s) URL", name, raw)
		}
		p.proxies = append(p.proxies, &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.SetXForwarded()
				pr.Out.Host = pr.In.Host
			},
			Transport:    transport,
			ErrorHandler: p.unavailable,
		})
	}
	return p, nil
}

func (p *pool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var i uint64
	if tok := accessToken(r); p.sticky && tok != "" {
		h := fnv.New64a()
		_, _ = h.Write([]byte(tok))
		i = h.Sum64()
	} else {
		i = p.next.Add(1)
	}
	p.proxies[i%uint64(len(p.proxies))].ServeHTTP(w, r)
}

// unavailable answers in Matrix form when a process cannot be reached, so
// that clients retry.
func (p *pool) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	slog.Warn("gateway: upstream failed", "component", p.name, "path", r.URL.Path, "err", err)
	mxhttp.WriteJSON(w, http.StatusBadGateway, &mxhttp.Error{Status: http.StatusBadGateway, Code: "M_UNKNOWN", Msg: "The " + p.name + " is unavailable, try again"})
}

func accessToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimPrefix(h, "Bearer ")
	}
	return r.URL.Query().Get("access_token")
}
