// Package gateway is the single HTTP entry point of a separate-services
// deployment: it sends each request to a process of the component that
// serves its path, spreading the load over replicas.
package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/adminapi"
	"github.com/rohrpost/rohrpost/bundesmessenger"
	"github.com/rohrpost/rohrpost/clientapi"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/mediaapi"
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
	r := mxhttp.NewRouter()
	// Routes are registered in the order the monolith registers them, so
	// the first match is the same.
	if err := copyRoutes(r, sync, func(t *mux.Router) { (&syncapi.Server{}).Routes(t) }); err != nil {
		return nil, err
	}
	if err := copyRoutes(r, client, func(t *mux.Router) { (&clientapi.Server{}).Routes(t) }); err != nil {
		return nil, err
	}
	if err := copyRoutes(r, client, func(t *mux.Router) { (&adminapi.Server{}).Routes(t) }); err != nil {
		return nil, err
	}
	if err := copyRoutes(r, client, func(t *mux.Router) { (&bundesmessenger.Server{}).Routes(t) }); err != nil {
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
	if len(cfg.MediaAPI) > 0 {
		media, err := newPool("mediaapi", cfg.MediaAPI, false)
		if err != nil {
			return nil, err
		}
		if err := copyRoutes(r, media, func(t *mux.Router) { (&mediaapi.Server{}).Routes(t) }); err != nil {
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
	name      string
	upstreams []*upstream
	proxy     *httputil.ReverseProxy
	next      atomic.Uint64
	// sticky sends a user's requests to the same process, where the
	// per-device caches of the sync API are warm.
	sticky bool
}

// upstream is one process; down marks it unreachable for a moment after
// a connection to it failed, so that requests go to the others.
type upstream struct {
	url       *url.URL
	downUntil atomic.Int64 // unix nanoseconds
}

// downFor is how long a process that refused a connection is skipped.
const downFor = 2 * time.Second

// maxRetryBody is the largest request body kept for a retry on another
// process; larger ones (uploads) are not retried.
const maxRetryBody = 1 << 20

func newPool(name string, urls []string, sticky bool) (*pool, error) {
	p := &pool{name: name, sticky: sticky}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("config key gateway.%s: %q is not an http(s) URL", name, raw)
		}
		p.upstreams = append(p.upstreams, &upstream{url: u})
	}
	transport := &http.Transport{
		// A machine that is switched off does not refuse connections; it
		// must not hold a request for the system's connect timeout.
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			// Keep what a proxy in front of the gateway said about the
			// client; components believe it only from trusted_proxies.
			if xff := pr.In.Header.Values("X-Forwarded-For"); len(xff) > 0 {
				pr.Out.Header["X-Forwarded-For"] = xff
			}
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport:    &failover{pool: p, next: transport},
		ErrorHandler: p.unavailable,
	}
	return p, nil
}

func (p *pool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.proxy.ServeHTTP(w, r)
}

// order is the sequence of processes to try for r: the preferred one
// first, those marked down last.
func (p *pool) order(r *http.Request) []*upstream {
	var start uint64
	if tok := accessToken(r); p.sticky && tok != "" {
		h := fnv.New64a()
		_, _ = h.Write([]byte(tok))
		start = h.Sum64()
	} else {
		start = p.next.Add(1)
	}
	n := uint64(len(p.upstreams))
	now := time.Now().UnixNano()
	up := make([]*upstream, 0, n)
	var down []*upstream
	for i := range n {
		u := p.upstreams[(start+i)%n]
		if u.downUntil.Load() > now {
			down = append(down, u)
		} else {
			up = append(up, u)
		}
	}
	return append(up, down...)
}

// failover sends a request to the pool's processes in order until one
// accepts the connection. A refused connection never reached a process,
// so trying another is safe for every method.
type failover struct {
	pool *pool
	next http.RoundTripper
}

func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		if req.ContentLength < 0 || req.ContentLength > maxRetryBody {
			return f.send(req, f.pool.order(req)[0])
		}
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
	}
	var lastErr error
	for _, u := range f.pool.order(req) {
		out := req.Clone(req.Context())
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := f.send(out, u)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" || req.Context().Err() != nil {
			return nil, err
		}
	}
	return nil, lastErr
}

func (f *failover) send(req *http.Request, u *upstream) (*http.Response, error) {
	req.URL.Scheme, req.URL.Host = u.url.Scheme, u.url.Host
	if u.url.Path != "" && u.url.Path != "/" {
		// The escaped path goes on as the client sent it: a federation
		// request's signature covers it, and ids hold ":", "@", "!", "$".
		escaped := req.URL.EscapedPath()
		req.URL.Path = strings.TrimSuffix(u.url.Path, "/") + req.URL.Path
		req.URL.RawPath = strings.TrimSuffix(u.url.EscapedPath(), "/") + escaped
	}
	resp, err := f.next.RoundTrip(req)
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		u.downUntil.Store(time.Now().Add(downFor).UnixNano())
	}
	return resp, err
}

// unavailable answers in Matrix form when no process can be reached, so
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
