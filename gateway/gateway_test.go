package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/clientapi"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/mediaapi"
	"github.com/rohrpost/rohrpost/syncapi"
)

// backend records which process got which request.
type backend struct {
	name string
	srv  *httptest.Server
	mu   sync.Mutex
	hits []string
}

func newBackend(t *testing.T, name string) *backend {
	b := &backend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.hits = append(b.hits, r.Method+" "+r.URL.Path)
		b.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]string{"backend": name, "body": string(body), "host": r.Host, "xff": r.Header.Get("X-Forwarded-For")})
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.hits)
}

type answer struct {
	Backend string `json:"backend"`
	Body    string `json:"body"`
	Host    string `json:"host"`
	XFF     string `json:"xff"`
	Errcode string `json:"errcode"`
}

func do(t *testing.T, h http.Handler, method, path, token, body string) (int, answer) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	// As a TLS proxy in front of the gateway would say.
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var a answer
	_ = json.Unmarshal(rec.Body.Bytes(), &a)
	return rec.Code, a
}

func TestRouting(t *testing.T) {
	client, sync1, sync2, fed := newBackend(t, "client"), newBackend(t, "sync1"), newBackend(t, "sync2"), newBackend(t, "fed")
	g, err := New(config.Gateway{
		ClientAPI:     []string{client.srv.URL},
		SyncAPI:       []string{sync1.srv.URL, sync2.srv.URL},
		FederationAPI: []string{fed.srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		want         string // backend, or an errcode
		status       int
	}{
		{"GET", "/_matrix/client/v3/sync", "sync", 200},
		{"GET", "/_matrix/client/r0/sync", "sync", 200},
		{"GET", "/_matrix/client/v3/rooms/!r:x/messages", "sync", 200},
		{"PUT", "/_matrix/client/v3/rooms/!r:x/typing/@a:x", "sync", 200},
		{"GET", "/_matrix/client/v1/rooms/!r:x/relations/$e", "sync", 200},
		{"GET", "/_matrix/client/v3/login", "client", 200},
		{"PUT", "/_matrix/client/v3/rooms/!r:x/send/m.room.message/1", "client", 200},
		{"POST", "/_synapse/admin/v1/register", "client", 200},
		{"GET", "/_synapse/admin/v2/users", "client", 200},
		{"PUT", "/_synapse/admin/v2/users/@a:x", "client", 200},
		{"GET", "/_synapse/admin/v1/audit_log", "client", 200},
		{"GET", "/_matrix/key/v2/server", "fed", 200},
		{"GET", "/_matrix/client/v3/no/such/endpoint", "M_UNRECOGNIZED", 404},
		{"DELETE", "/_matrix/client/v3/sync", "M_UNRECOGNIZED", 405},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			status, a := do(t, g, tc.method, tc.path, "tok", "")
			got := strings.TrimRight(a.Backend, "12")
			if a.Errcode != "" {
				got = a.Errcode
			}
			if status != tc.status || got != tc.want {
				t.Fatalf("got %d %q, want %d %q", status, got, tc.status, tc.want)
			}
		})
	}
}

// Every route the components register reaches the component, so the
// gateway cannot drift from their route tables.
func TestEveryComponentRouteIsProxied(t *testing.T) {
	client, sync1, media := newBackend(t, "client"), newBackend(t, "sync"), newBackend(t, "media")
	g, err := New(config.Gateway{ClientAPI: []string{client.srv.URL}, SyncAPI: []string{sync1.srv.URL}, MediaAPI: []string{media.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for name, register := range map[string]func(*mux.Router){
		"sync":   func(r *mux.Router) { (&syncapi.Server{}).Routes(r) },
		"client": func(r *mux.Router) { (&clientapi.Server{}).Routes(r) },
		"media":  func(r *mux.Router) { (&mediaapi.Server{}).Routes(r) },
	} {
		table := mux.NewRouter()
		register(table)
		_ = table.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
			tmpl, err1 := route.GetPathTemplate()
			methods, err2 := route.GetMethods()
			if err1 != nil || err2 != nil {
				return nil
			}
			path := strings.NewReplacer("{roomId}", "!r:x", "{eventId}", "$e", "{userId}", "@u:x").Replace(tmpl)
			for strings.Contains(path, "{") {
				i, j := strings.Index(path, "{"), strings.Index(path, "}")
				path = path[:i] + "x" + path[j+1:]
			}
			for _, m := range methods {
				if m == http.MethodHead {
					continue // no body to tell the backend by; GET covers the route
				}
				_, a := do(t, g, m, path, "", "")
				if a.Backend != name {
					t.Errorf("%s %s went to %q, want %s", m, path, a.Backend, name)
				}
			}
			return nil
		})
	}
}

func TestFailoverAndStickiness(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	alive := newBackend(t, "alive")
	g, err := New(config.Gateway{ClientAPI: []string{deadURL, alive.srv.URL}, SyncAPI: []string{deadURL, alive.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	// Whatever process a request would have gone to, it reaches the live
	// one, with its body.
	for i := range 6 {
		body := fmt.Sprintf(`{"n":%d}`, i)
		status, a := do(t, g, "POST", "/_matrix/client/v3/createRoom", "", body)
		if status != 200 || a.Backend != "alive" || a.Body != body {
			t.Fatalf("request %d: %d %+v", i, status, a)
		}
		if a.Host != "example.com" || !strings.HasPrefix(a.XFF, "203.0.113.7, ") {
			t.Errorf("forwarded headers: host %q, X-Forwarded-For %q", a.Host, a.XFF)
		}
	}

	// With every process alive, one token's syncs stay on one process.
	s1, s2 := newBackend(t, "s1"), newBackend(t, "s2")
	g, err = New(config.Gateway{ClientAPI: []string{alive.srv.URL}, SyncAPI: []string{s1.srv.URL, s2.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"a", "b", "c", "d"} {
		_, first := do(t, g, "GET", "/_matrix/client/v3/sync", tok, "")
		for range 5 {
			if _, a := do(t, g, "GET", "/_matrix/client/v3/sync", tok, ""); a.Backend != first.Backend {
				t.Fatalf("token %s moved from %s to %s", tok, first.Backend, a.Backend)
			}
		}
	}
	if s1.count() == 0 || s2.count() == 0 {
		t.Errorf("tokens were not spread: %d and %d requests", s1.count(), s2.count())
	}

	// No process at all: a Matrix error the client can retry on.
	g, err = New(config.Gateway{ClientAPI: []string{deadURL}, SyncAPI: []string{deadURL}})
	if err != nil {
		t.Fatal(err)
	}
	if status, a := do(t, g, "GET", "/_matrix/client/v3/sync", "a", ""); status != http.StatusBadGateway || a.Errcode != "M_UNKNOWN" {
		t.Fatalf("all down: %d %+v", status, a)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []config.Gateway{
		{},
		{ClientAPI: []string{"http://a"}},
		{ClientAPI: []string{"ftp://a"}, SyncAPI: []string{"http://b"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

// A federation request's X-Matrix signature covers the path as it was
// sent, escapes included; the gateway must not re-encode it, also not when
// the component sits under a path prefix.
func TestEscapedPathReachesComponentUnchanged(t *testing.T) {
	for _, prefix := range []string{"", "/fed"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			got := make(chan string, 1)
			fed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.URL.EscapedPath()
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte("{}"))
			}))
			t.Cleanup(fed.Close)
			other := newBackend(t, "other")
			g, err := New(config.Gateway{ClientAPI: []string{other.srv.URL}, SyncAPI: []string{other.srv.URL}, FederationAPI: []string{fed.URL + prefix}})
			if err != nil {
				t.Fatal(err)
			}
			path := "/_matrix/federation/v1/event/%24abc%3Aexample.org%2Fx"
			req := httptest.NewRequest(http.MethodGet, path, nil)
			rec := httptest.NewRecorder()
			g.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			if p := <-got; p != prefix+path {
				t.Errorf("component got %q, want %q", p, prefix+path)
			}
		})
	}
}
