package apptest

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/app"
	"github.com/rohrpost/rohrpost/internal/testdb"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix"
)

// Server is a running test homeserver.
type Server struct {
	App  *app.App
	HTTP *httptest.Server
	URL  string
	cfg  *config.Config
	// addr is the plain listener's address while stopped, and held the
	// socket that keeps it reserved then (reserve_linux.go).
	addr    string
	held    io.Closer
	stopped bool

	// Servers of StartFederation only (federation.go): the server name,
	// the address of the TLS listener, and the test CA.
	ServerName spec.ServerName
	TLSURL     string
	CAFile     string
	caPool     *x509.CertPool
	routes     *http.ServeMux
}

// Config returns a test configuration with open registration and no rate
// limits, its data in dir.
func Config(dir string) *config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.EnableRegistration = true
	cfg.EnableRegistrationWithoutVerification = true
	cfg.AllowGuestAccess = true
	cfg.RegistrationSharedSecret = "test-secret"
	cfg.RateLimiting.Enabled = false
	cfg.Database.Path = filepath.Join(dir, "rohrpost.db")
	if uri := testdb.PostgresURI(); uri != "" {
		cfg.Database = config.Database{Type: "postgres", URI: uri}
	}
	cfg.Finish()
	return cfg
}

// OverBus tells whether ROHRPOST_TEST_OVER_BUS asks for the components to
// call each other over NATS, as separate services do: the same tests then
// cover every component's API both ways.
func OverBus() bool {
	return os.Getenv("ROHRPOST_TEST_OVER_BUS") != ""
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Config(t.TempDir()))
}

// StartWith runs a server with cfg until the test ends.
func StartWith(t testing.TB, cfg *config.Config) *Server {
	t.Helper()
	a, err := newApp(cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	s := &Server{App: a, HTTP: srv, URL: srv.URL, cfg: cfg}
	t.Cleanup(s.stop)
	return s
}

// newApp starts the components of cfg with bcrypt's lowest cost for new
// password hashes: at the default cost one hash takes most of a second
// under the race detector, and every Register hashes one. Passwords are
// still hashed and checked the same way.
func newApp(cfg *config.Config) (*app.App, error) {
	a, err := app.New(context.Background(), cfg, app.Options{OverBus: OverBus()})
	if err != nil {
		return nil, err
	}
	if a.LocalUsers != nil {
		a.LocalUsers.PasswordCost = bcrypt.MinCost
	}
	return a, nil
}

func (s *Server) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.App.EndRequests()
	s.HTTP.Close()
	s.App.Close()
}

// Stop stops the server, as a machine that goes down; Start brings it
// back. Meanwhile connections to its address are refused and the address
// stays reserved for it, so that tests running in parallel cannot take
// it.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.stopped {
		return
	}
	addr := s.HTTP.Listener.Addr().(*net.TCPAddr)
	s.addr = addr.String()
	// The address is reserved as soon as the listener is closed, not after
	// the server's shutdown, which takes a while.
	_ = s.HTTP.Listener.Close()
	if held, err := reservePort(addr); err != nil {
		t.Logf("stop: %v; the address is not reserved while the server is down", err)
	} else {
		s.held = held
		t.Cleanup(s.release)
	}
	s.stop()
}

// release gives up the reservation of a stopped server's address.
func (s *Server) release() {
	if s.held != nil {
		_ = s.held.Close()
		s.held = nil
	}
}

// Start starts a stopped server again on the same data and address.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	a, err := newApp(s.cfg)
	if err != nil {
		t.Fatalf("restart server: %v", err)
	}
	// The listener binds beside the reservation (both reuse the address,
	// the reservation does not listen), so the address is never free.
	l, err := net.Listen("tcp", s.addr)
	s.release()
	if err != nil {
		if l, err = net.Listen("tcp", s.addr); err != nil {
			t.Fatalf("listen again on %s: %v", s.addr, err)
		}
	}
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	s.App, s.HTTP, s.stopped = a, srv, false
}

// Restart stops the server and starts it again on the same data and the
// same address, so that clients carry on.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

var userCounter atomic.Int64

// Register creates a fresh user and returns a logged-in client.
func (s *Server) Register(t testing.TB, name string) *mautrix.Client {
	t.Helper()
	return RegisterAt(t, s.URL, name)
}

// RegisterAt registers a user on any server URL.
func RegisterAt(t testing.TB, url, name string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(url, "", "")
	if err != nil {
		t.Fatal(err)
	}
	localpart := fmt.Sprintf("%s%d", name, userCounter.Add(1))
	resp, err := cli.RegisterDummy(context.Background(), &mautrix.ReqRegister{Username: localpart, Password: "correct horse battery staple"})
	if err != nil {
		t.Fatalf("register %s: %v", localpart, err)
	}
	cli.UserID, cli.AccessToken = resp.UserID, resp.AccessToken
	cli.DeviceID = resp.DeviceID
	return cli
}
