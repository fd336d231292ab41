package federationapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

// The outbound federation client: gomatrixserverlib's, which signs every
// request (X-Matrix) with the key of the origin server name, over our own
// transport. We cannot use the library's transport: it cannot be given
// extra CAs, and agencies federate on their own CA (and SyTest on a test
// CA). Passing WithTransport makes WithAllowDenyNetworks and
// WithSkipVerify ineffective, so our transport does both itself.

const (
	userAgent = "rohrpost"
	// requestTimeout bounds one request including its response body: a
	// send_join into a large room sends megabytes of state.
	requestTimeout   = time.Minute
	dialTimeout      = 5 * time.Second
	wellKnownTimeout = 10 * time.Second
	maxWellKnown     = 50 << 10
	// resolveTTL is how long a discovery result is kept; a result that
	// fails to connect is dropped at once.
	resolveTTL = time.Hour
	// idleTransport is how long the connection pool of an unused TLS
	// server name is kept.
	idleTransport = 5 * time.Minute
)

// errDeniedAddress is returned when a peer resolves to an address in the
// ip_range_blacklist.
var errDeniedAddress = errors.New("address denied by ip_range_blacklist")

// NewFederationClient builds the client that speaks for every local
// server name in keys.
func NewFederationClient(cfg *config.Config, keys []serverkey.Key) (fclient.FederationClient, error) {
	tlsCfg, err := cfg.FederationTLS()
	if err != nil {
		return nil, fmt.Errorf("federation TLS: %w", err)
	}
	deny, err := parsePrefixes(cfg.FederationDenyNetworks())
	if err != nil {
		return nil, fmt.Errorf("ip_range_blacklist: %w", err)
	}
	ids := make([]*fclient.SigningIdentity, len(keys))
	for i, k := range keys {
		ids[i] = &fclient.SigningIdentity{ServerName: k.ServerName, KeyID: k.ID, PrivateKey: k.Private}
	}
	return fclient.NewFederationClient(ids,
		fclient.WithTransport(newTransport(tlsCfg, deny)),
		fclient.WithTimeout(requestTimeout),
		fclient.WithUserAgent(userAgent),
	), nil
}

func parsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// transport carries matrix://server/path requests: it finds where server
// lives (the spec's server discovery), then speaks HTTPS to it with the
// certificate checked for the name the spec says. Every connection,
// discovery's well-known lookups included, goes through a dialer that
// refuses the denied ranges on the address actually dialled, so DNS
// cannot smuggle an internal address in.
type transport struct {
	tls       *tls.Config
	dialer    *net.Dialer
	wellKnown func(ctx context.Context, name spec.ServerName) (spec.ServerName, error)
	lookupSRV func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	wkClient  *http.Client

	mu       sync.Mutex
	resolved map[spec.ServerName]resolution
	// pools holds one http.Transport per TLS server name: a connection
	// checked for one name must never carry a request for another.
	pools    map[string]*pool
	lastReap time.Time
}

type resolution struct {
	results []fclient.ResolutionResult
	until   time.Time
}

type pool struct {
	*http.Transport
	lastUsed time.Time
}

func newTransport(tlsCfg *tls.Config, deny []netip.Prefix) *transport {
	t := &transport{
		tls:       tlsCfg,
		dialer:    denyingDialer(deny),
		lookupSRV: net.DefaultResolver.LookupSRV,
		resolved:  map[spec.ServerName]resolution{},
		pools:     map[string]*pool{},
	}
	t.wellKnown = t.lookupWellKnown
	t.wkClient = &http.Client{
		Timeout: wellKnownTimeout,
		Transport: &http.Transport{
			DialContext: t.dialer.DialContext, TLSClientConfig: tlsCfg.Clone(),
			TLSHandshakeTimeout: wellKnownTimeout, MaxResponseHeaderBytes: 64 << 10,
		},
	}
	return t
}

func denyingDialer(deny []netip.Prefix) *net.Dialer {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if len(deny) == 0 {
		return d
	}
	d.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("dial %s: %w", address, err)
		}
		// A zone would make Contains answer false for fe80::/10.
		ip := ap.Addr().Unmap().WithZone("")
		for _, p := range deny {
			if p.Contains(ip) {
				return fmt.Errorf("%w: %s", errDeniedAddress, ip)
			}
		}
		return nil
	}
	return d
}

// RoundTrip sends r to the first discovery result that answers. Other
// schemes are refused, which also refuses redirects: a signed request
// means nothing elsewhere, and a redirect could point anywhere.
func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "matrix" {
		closeBody(r)
		return nil, fmt.Errorf("federation: refusing %s URL (redirects are not followed)", r.URL.Scheme)
	}
	name := spec.ServerName(r.URL.Host)
	results, err := t.resolve(r.Context(), name)
	if err != nil {
		closeBody(r)
		return nil, fmt.Errorf("federation: resolve %s: %w", name, err)
	}
	var lastErr error
	for i, res := range results {
		req := r.Clone(r.Context())
		if i > 0 && r.Body != nil && r.Body != http.NoBody {
			if r.GetBody == nil {
				break
			}
			if req.Body, err = r.GetBody(); err != nil {
				return nil, err
			}
		}
		req.URL.Scheme, req.URL.Host, req.Host = "https", res.Destination, string(res.Host)
		resp, err := t.poolFor(res.TLSServerName).RoundTrip(req)
		if err == nil {
			return resp, nil
		}
		lastErr = err
	}
	t.forget(name)
	return nil, lastErr
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
}

func (t *transport) poolFor(tlsName string) http.RoundTripper {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if now.Sub(t.lastReap) > time.Minute {
		for n, p := range t.pools {
			if now.Sub(p.lastUsed) > idleTransport {
				p.CloseIdleConnections()
				delete(t.pools, n)
			}
		}
		t.lastReap = now
	}
	p, ok := t.pools[tlsName]
	if !ok {
		cfg := t.tls.Clone()
		cfg.ServerName = tlsName
		p = &pool{Transport: &http.Transport{
			DialContext: t.dialer.DialContext, TLSClientConfig: cfg, ForceAttemptHTTP2: true,
			TLSHandshakeTimeout: 10 * time.Second, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second,
		}}
		t.pools[tlsName] = p
	}
	p.lastUsed = now
	return p.Transport
}

func (t *transport) resolve(ctx context.Context, name spec.ServerName) ([]fclient.ResolutionResult, error) {
	t.mu.Lock()
	r, ok := t.resolved[name]
	t.mu.Unlock()
	if ok && time.Now().Before(r.until) {
		return r.results, nil
	}
	results, err := t.discover(ctx, name)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.resolved[name] = resolution{results: results, until: time.Now().Add(resolveTTL)}
	t.mu.Unlock()
	return results, nil
}

func (t *transport) forget(name spec.ServerName) {
	t.mu.Lock()
	delete(t.resolved, name)
	t.mu.Unlock()
}

// discover follows the spec's server discovery: an IP literal or an
// explicit port is used as it is; otherwise /.well-known/matrix/server may
// delegate to another name (resolved the same way, without a second
// well-known); then SRV records; then port 8448.
func (t *transport) discover(ctx context.Context, name spec.ServerName) ([]fclient.ResolutionResult, error) {
	host, port, ok := spec.ParseAndValidateServerName(name)
	if !ok {
		return nil, fmt.Errorf("%q is not a server name", name)
	}
	if isIPLiteral(host) || port != -1 {
		return direct(name, host, port), nil
	}
	if delegated, err := t.wellKnown(ctx, name); err == nil {
		if dhost, dport, ok := spec.ParseAndValidateServerName(delegated); ok {
			if isIPLiteral(dhost) || dport != -1 {
				return direct(delegated, dhost, dport), nil
			}
			return t.srv(ctx, delegated), nil
		}
	}
	return t.srv(ctx, name), nil
}

func isIPLiteral(host string) bool {
	return strings.HasPrefix(host, "[") || net.ParseIP(host) != nil
}

// direct is the result for a name that needs no lookup: its host, on its
// port or 8448, with the certificate checked for the host.
func direct(name spec.ServerName, host string, port int) []fclient.ResolutionResult {
	bare := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if port == -1 {
		port = 8448
	}
	return []fclient.ResolutionResult{{
		Destination: net.JoinHostPort(bare, strconv.Itoa(port)), Host: name, TLSServerName: bare,
	}}
}

// srv looks up _matrix-fed._tcp (and the deprecated _matrix._tcp); the
// certificate must still be for name, not for the SRV target.
func (t *transport) srv(ctx context.Context, name spec.ServerName) []fclient.ResolutionResult {
	for _, service := range []string{"matrix-fed", "matrix"} {
		_, records, err := t.lookupSRV(ctx, service, "tcp", string(name))
		if err != nil || len(records) == 0 {
			continue
		}
		out := make([]fclient.ResolutionResult, 0, len(records))
		for _, rec := range records {
			out = append(out, fclient.ResolutionResult{
				Destination: net.JoinHostPort(strings.TrimSuffix(rec.Target, "."), strconv.Itoa(int(rec.Port))),
				Host:        name, TLSServerName: string(name),
			})
		}
		return out
	}
	return direct(name, string(name), -1)
}

func (t *transport) lookupWellKnown(ctx context.Context, name spec.ServerName) (spec.ServerName, error) {
	return t.fetchWellKnown(ctx, "https://"+string(name)+"/.well-known/matrix/server")
}

func (t *transport) fetchWellKnown(ctx context.Context, url string) (spec.ServerName, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := t.wkClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("well-known: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWellKnown+1))
	if err != nil {
		return "", err
	}
	if len(body) > maxWellKnown {
		return "", errors.New("well-known: response too large")
	}
	var wk struct {
		Server spec.ServerName `json:"m.server"`
	}
	if err := json.Unmarshal(body, &wk); err != nil || wk.Server == "" {
		return "", errors.New("well-known: no m.server")
	}
	return wk.Server, nil
}
