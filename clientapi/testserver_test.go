package clientapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"golang.org/x/crypto/bcrypt"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/userapi"
)

// testServer is the client API on a real userapi over SQLite, served by
// the same router the binary uses. It has no roomserver: the account
// endpoints do not need one.
type testServer struct {
	t       *testing.T
	cfg     *config.Config
	users   *userapi.Server
	handler http.Handler

	mu              sync.Mutex
	profileChanges  []string // "user displayname avatar"
	deactivatedUser []string
}

const testSecret = "test-shared-secret"

// newTestConfig is a server named "test" with open registration, guests
// and shared-secret registration.
func newTestConfig() *config.Config {
	cfg := config.Default()
	cfg.ServerName = "test"
	cfg.EnableRegistration = true
	cfg.EnableRegistrationWithoutVerification = true
	cfg.AllowGuestAccess = true
	cfg.RegistrationSharedSecret = testSecret
	// Tests register and send quickly; ratelimit_test.go tests the limits.
	cfg.RateLimiting.Enabled = false
	return cfg
}

func newTestServer(t *testing.T, configure ...func(*config.Config)) *testServer {
	t.Helper()
	cfg := newTestConfig()
	for _, c := range configure {
		c(cfg)
	}
	db, err := sqlutil.Open(sqlutil.Options{Type: "sqlite", Path: filepath.Join(t.TempDir(), "test.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	b := testBus(t)
	users, err := userapi.New(cfg, db, b)
	if err != nil {
		t.Fatal(err)
	}
	users.PasswordCost = bcrypt.MinCost
	ts := &testServer{t: t, cfg: cfg, users: users}
	cs, err := New(cfg, Deps{
		Users: users,
		Bus:   b,
		OnProfileChange: func(_ context.Context, user spec.UserID, p userapi.Profile) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.profileChanges = append(ts.profileChanges, user.String()+" "+p.DisplayName+" "+p.AvatarURL)
		},
		OnDeactivate: func(_ context.Context, user spec.UserID) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.deactivatedUser = append(ts.deactivatedUser, user.String())
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := mxhttp.NewRouter()
	cs.Routes(r)
	ts.handler = r
	return ts
}

// response is a decoded reply.
type response struct {
	status int
	body   map[string]any
	raw    string
}

func (r response) errcode() string {
	s, _ := r.body["errcode"].(string)
	return s
}

func (r response) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// do sends a request. body is sent as is if it is a string, marshalled
// otherwise, and left out if nil.
func (ts *testServer) do(method, path, token string, body any) response {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "clientapi-test")
	rec := httptest.NewRecorder()
	ts.handler.ServeHTTP(rec, req)
	res := response{status: rec.Code, raw: rec.Body.String()}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		ts.t.Fatalf("%s %s: content type %q, body %s", method, path, ct, res.raw)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res.body); err != nil {
		ts.t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, res.raw, err)
	}
	return res
}

// expect fails the test unless the reply has the status (and errcode).
func (ts *testServer) expect(res response, status int, errcode string) {
	ts.t.Helper()
	if res.status != status || res.errcode() != errcode {
		ts.t.Fatalf("got %d %q (%s), want %d %q", res.status, res.errcode(), res.raw, status, errcode)
	}
}

// account is a registered and logged-in user.
type account struct {
	userID, token, deviceID, password string
}

// register runs the dummy flow: a first request for the session, a second
// that completes it.
func (ts *testServer) register(localpart string) account {
	ts.t.Helper()
	const password = "sUp3rs3kr1t"
	req := map[string]any{"username": localpart, "password": password}
	first := ts.do("POST", "/_matrix/client/v3/register", "", req)
	ts.expect(first, http.StatusUnauthorized, "")
	req["auth"] = map[string]any{"type": "m.login.dummy", "session": first.str("session")}
	res := ts.do("POST", "/_matrix/client/v3/register", "", req)
	ts.expect(res, http.StatusOK, "")
	return account{userID: res.str("user_id"), token: res.str("access_token"), deviceID: res.str("device_id"), password: password}
}

// registerGuest registers a guest account.
func (ts *testServer) registerGuest() account {
	ts.t.Helper()
	res := ts.do("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{})
	ts.expect(res, http.StatusOK, "")
	return account{userID: res.str("user_id"), token: res.str("access_token"), deviceID: res.str("device_id")}
}

// login logs the account in on another device.
func (ts *testServer) login(a account, deviceID string) account {
	ts.t.Helper()
	res := ts.do("POST", "/_matrix/client/v3/login", "", map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": a.userID},
		"password":   a.password,
		"device_id":  deviceID,
	})
	ts.expect(res, http.StatusOK, "")
	a.token, a.deviceID = res.str("access_token"), res.str("device_id")
	return a
}

// passwordAuth is an m.login.password auth dict for a.
func passwordAuth(a account, password, session string) map[string]any {
	auth := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": a.userID},
		"password":   password,
	}
	if session != "" {
		auth["session"] = session
	}
	return auth
}

// testBus is an embedded NATS for the state replicas share.
func testBus(t *testing.T) *bus.Conn {
	t.Helper()
	b, err := bus.Connect(context.Background(), bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}
