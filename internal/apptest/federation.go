package apptest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"maunium.net/go/mautrix"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/testca"
)

// A federated test server has two listeners on 127.0.0.1:
//   - the TLS one, whose address is its server name ("127.0.0.1:port"),
//     with a certificate of a CA made for the test: the one other servers
//     reach. It terminates TLS and passes each request on to the other
//     listener unchanged (escaped path and Host included), as a reverse
//     proxy in front of a real deployment does;
//   - the plain one, s.URL, for clients (Register works as for any test
//     server) and the target of the TLS listener. Restart brings it back on
//     the same address, so federation carries on across a restart.
// Every server trusts the CA (tls_client.ca_file, verification on) and may
// reach loopback (ip_range_blacklist: []): the configuration SyTest uses.

// StartFederation starts n servers that federate with each other.
func StartFederation(t testing.TB, n int) []*Server {
	t.Helper()
	ca := testca.New(t)
	servers := make([]*Server, n)
	for i := range servers {
		servers[i] = startFederated(t, ca)
	}
	return servers
}

func startFederated(t testing.TB, ca *testca.CA) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	name := spec.ServerName(l.Addr().String())
	cfg := Config(t.TempDir())
	cfg.ServerName = name
	cfg.PublicBaseURL = "https://" + string(name)
	cfg.TLSClient = config.TLSClient{Verify: true, CAFile: ca.File}
	cfg.IPRangeBlacklist = &[]string{}
	s := StartWith(t, cfg)
	s.ServerName, s.CAFile, s.caPool = name, ca.File, ca.Pool
	s.routes = http.NewServeMux()

	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	routes := s.routes
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, pattern := routes.Handler(r); pattern != "" {
			h.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	_ = front.Listener.Close()
	front.Listener = l
	front.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t)}, MinVersion: tls.VersionTLS12}
	front.StartTLS()
	t.Cleanup(front.Close)
	s.TLSURL = front.URL
	return s
}

// Handle serves h for pattern (http.ServeMux's syntax, such as
// "GET /_matrix/federation/v1/test") on the TLS listener, before the
// server's own routes: for endpoints a test adds.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.routes.Handle(pattern, h)
}

// HTTPClient is a client that trusts the test CA of s.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.caPool, MinVersion: tls.VersionTLS12},
	}}
}

// RegisterTLS creates a fresh user and returns a client logged in over
// the TLS listener.
func (s *Server) RegisterTLS(t testing.TB, name string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(s.TLSURL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cli.Client = s.HTTPClient()
	localpart := fmt.Sprintf("%s%d", name, userCounter.Add(1))
	resp, err := cli.RegisterDummy(context.Background(), &mautrix.ReqRegister{Username: localpart, Password: "correct horse battery staple"})
	if err != nil {
		t.Fatalf("register %s: %v", localpart, err)
	}
	cli.UserID, cli.AccessToken = resp.UserID, resp.AccessToken
	cli.DeviceID = resp.DeviceID
	return cli
}
