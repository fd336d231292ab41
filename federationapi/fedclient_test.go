package federationapi

import (
	"context"
	"crypto/tls"
	"errors"
	"github.com/rohrpost/rohrpost/internal/testca"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

// fedTestCA issues certificates for test servers on 127.0.0.1.
type fedTestCA struct{ *testca.CA }

func newFedTestCA(t testing.TB) *fedTestCA { return &fedTestCA{testca.New(t)} }

// serveTLS starts an HTTPS server with a certificate of ca and returns
// its server name ("127.0.0.1:port").
func (ca *fedTestCA) serveTLS(t testing.TB, h http.Handler) (spec.ServerName, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return spec.ServerName(srv.Listener.Addr().String()), srv
}

// fedConfig is a configuration for local server name, trusting ca and
// allowing loopback.
func fedTestConfig(name spec.ServerName, ca *fedTestCA) *config.Config {
	cfg := config.Default()
	cfg.ServerName = name
	cfg.TLSClient.CAFile = ca.File
	cfg.IPRangeBlacklist = &[]string{}
	return cfg
}

func newSigningKey(t testing.TB, name spec.ServerName) serverkey.Key {
	t.Helper()
	id, priv, err := serverkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return serverkey.Key{ServerName: name, ID: id, Private: priv}
}

func TestFederationClientTLSAndDenyList(t *testing.T) {
	ca := newFedTestCA(t)
	var agents atomic.Value
	remote, _ := ca.serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agents.Store(r.UserAgent())
		_, _ = w.Write([]byte(`{"server_name":"x","verify_keys":{}}`))
	}))
	off := false
	tests := []struct {
		name    string
		edit    func(c *config.Config)
		wantErr string
	}{
		{"tls_client.ca_file", func(*config.Config) {}, ""},
		{"federation_custom_ca_list", func(c *config.Config) {
			c.FederationCustomCAList, c.TLSClient.CAFile = []string{ca.File}, ""
		}, ""},
		{"system CAs only", func(c *config.Config) { c.TLSClient.CAFile = "" }, "certificate"},
		{"tls_client.verify false", func(c *config.Config) { c.TLSClient = config.TLSClient{Verify: false} }, ""},
		{"federation_verify_certificates false", func(c *config.Config) {
			c.TLSClient.CAFile, c.FederationVerifyCertificates = "", &off
		}, ""},
		{"default deny list refuses loopback", func(c *config.Config) { c.IPRangeBlacklist = nil }, "denied"},
		{"a deny list without loopback", func(c *config.Config) { c.IPRangeBlacklist = &[]string{"10.0.0.0/8"} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fedTestConfig("amt.example", ca)
			tc.edit(cfg)
			client, err := NewFederationClient(cfg, []serverkey.Key{newSigningKey(t, "amt.example")})
			if err != nil {
				t.Fatal(err)
			}
			_, err = client.GetServerKeys(context.Background(), remote)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("GetServerKeys: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
			}
			if tc.wantErr == "" && agents.Load() != userAgent {
				t.Errorf("User-Agent = %v", agents.Load())
			}
		})
	}
}

// Every request names us as origin and the remote as destination, and is
// signed; a redirect is not followed.
func TestFederationClientSignsAndRefusesRedirects(t *testing.T) {
	ca := newFedTestCA(t)
	var auth atomic.Value
	remote, _ := ca.serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "https://127.0.0.1:1/elsewhere", http.StatusFound)
			return
		}
		auth.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{}`))
	}))
	key := newSigningKey(t, "amt.example")
	client, err := NewFederationClient(fedTestConfig("amt.example", ca), []serverkey.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.LookupProfile(context.Background(), "amt.example", remote, "@u:"+string(remote), ""); err != nil {
		t.Fatal(err)
	}
	scheme, origin, dest, keyID, sig := fclient.ParseAuthorization(auth.Load().(string))
	if scheme != "X-Matrix" || origin != "amt.example" || dest != remote || keyID != key.ID || sig == "" {
		t.Fatalf("Authorization = %s", auth.Load())
	}

	req, _ := http.NewRequest(http.MethodGet, "matrix://"+string(remote)+"/redirect", nil)
	var out struct{}
	err = client.DoRequestAndParseResponse(context.Background(), req, &out)
	if err == nil || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Fatalf("redirect: err = %v", err)
	}
}

func TestDiscover(t *testing.T) {
	wellKnown := map[spec.ServerName]spec.ServerName{
		"delegated.example":    "matrix.host.example:443",
		"to-srv.example":       "fed.host.example",
		"to-ip.example":        "10.1.2.3",
		"bad-delegate.example": "not a name",
	}
	srv := map[string][]*net.SRV{
		"_matrix-fed._tcp.fed.host.example": {{Target: "node1.host.example.", Port: 8443}},
		"_matrix-fed._tcp.srv.example":      {{Target: "a.example.", Port: 1}, {Target: "b.example.", Port: 2}},
		"_matrix._tcp.legacy.example":       {{Target: "old.example.", Port: 8448}},
	}
	tr := newTransport(&tls.Config{}, nil)
	tr.wellKnown = func(_ context.Context, name spec.ServerName) (spec.ServerName, error) {
		if d, ok := wellKnown[name]; ok {
			return d, nil
		}
		return "", errors.New("no well-known")
	}
	tr.lookupSRV = func(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
		if recs, ok := srv["_"+service+"._"+proto+"."+name]; ok {
			return "", recs, nil
		}
		return "", nil, &net.DNSError{IsNotFound: true}
	}
	type res = fclient.ResolutionResult
	r := func(dest, host, tlsName string) res {
		return res{Destination: dest, Host: spec.ServerName(host), TLSServerName: tlsName}
	}
	tests := []struct {
		name spec.ServerName
		want []res
	}{
		{"1.2.3.4", []res{r("1.2.3.4:8448", "1.2.3.4", "1.2.3.4")}},
		{"1.2.3.4:99", []res{r("1.2.3.4:99", "1.2.3.4:99", "1.2.3.4")}},
		{"[::1]:99", []res{r("[::1]:99", "[::1]:99", "::1")}},
		{"[::1]", []res{r("[::1]:8448", "[::1]", "::1")}},
		{"host.example:8000", []res{r("host.example:8000", "host.example:8000", "host.example")}},
		{"delegated.example", []res{r("matrix.host.example:443", "matrix.host.example:443", "matrix.host.example")}},
		{"to-srv.example", []res{r("node1.host.example:8443", "fed.host.example", "fed.host.example")}},
		{"to-ip.example", []res{r("10.1.2.3:8448", "10.1.2.3", "10.1.2.3")}},
		{"bad-delegate.example", []res{r("bad-delegate.example:8448", "bad-delegate.example", "bad-delegate.example")}},
		{"srv.example", []res{r("a.example:1", "srv.example", "srv.example"), r("b.example:2", "srv.example", "srv.example")}},
		{"legacy.example", []res{r("old.example:8448", "legacy.example", "legacy.example")}},
		{"plain.example", []res{r("plain.example:8448", "plain.example", "plain.example")}},
	}
	for _, tc := range tests {
		t.Run(string(tc.name), func(t *testing.T) {
			got, err := tr.discover(context.Background(), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %+v, want %+v", got[i], tc.want[i])
				}
			}
		})
	}
	if _, err := tr.discover(context.Background(), "not a name"); err == nil {
		t.Error("a bad server name resolved")
	}
}

func TestFetchWellKnown(t *testing.T) {
	ca := newFedTestCA(t)
	_, srv := ca.serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good":
			_, _ = w.Write([]byte(`{"m.server": "matrix.example:443"}`))
		case "/huge":
			_, _ = w.Write([]byte(`{"m.server": "` + strings.Repeat("a", maxWellKnown) + `"}`))
		case "/empty":
			_, _ = w.Write([]byte(`{}`))
		default:
			http.NotFound(w, r)
		}
	}))
	cfg := fedTestConfig("amt.example", ca)
	tlsCfg, _ := cfg.FederationTLS()
	tr := newTransport(tlsCfg, nil)
	tests := []struct {
		path string
		want spec.ServerName
	}{{"/good", "matrix.example:443"}, {"/huge", ""}, {"/empty", ""}, {"/missing", ""}}
	for _, tc := range tests {
		got, err := tr.fetchWellKnown(context.Background(), srv.URL+tc.path)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("%s: got %q, %v", tc.path, got, err)
		}
	}
}

func TestDenyingDialer(t *testing.T) {
	deny, err := parsePrefixes(config.DefaultIPRangeBlacklist)
	if err != nil {
		t.Fatal(err)
	}
	control := denyingDialer(deny).ControlContext
	tests := []struct {
		addr   string
		denied bool
	}{
		{"127.0.0.1:443", true},
		{"[::1]:443", true},
		{"[::ffff:127.0.0.1]:443", true},
		{"[fe80::1%eth0]:443", true},
		{"10.20.30.40:8448", true},
		{"192.0.2.10:8448", false},
		{"[2001:db8::1]:8448", false},
	}
	for _, tc := range tests {
		err := control(context.Background(), "tcp", tc.addr, nil)
		if denied := errors.Is(err, errDeniedAddress); denied != tc.denied {
			t.Errorf("%s: err = %v, want denied %v", tc.addr, err, tc.denied)
		}
	}
	if _, err := parsePrefixes([]string{"nonsense"}); err == nil {
		t.Error("a bad CIDR parsed")
	}
}
