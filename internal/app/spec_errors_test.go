package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// The spec's errors for hostile requests: every answer is the spec's
// status with a JSON errcode, never a redirect, an HTML page or a 500.

// noRedirects is a client that shows a redirect instead of following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// rawAnswer is what the server answered to a raw request.
type rawAnswer struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (a rawAnswer) errcode() string {
	code, _ := a.json["errcode"].(string)
	return code
}

// specCall sends body exactly as given (nil: no body at all) with token.
func specCall(t *testing.T, base, token, method, path string, body *string) rawAnswer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(*body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	// http.NewRequest parses the path; keep it as sent.
	if i := strings.Index(path, "?"); i >= 0 {
		req.URL.Opaque, req.URL.RawQuery = "//"+req.URL.Host+path[:i], path[i+1:]
	} else {
		req.URL.Opaque = "//" + req.URL.Host + path
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := rawAnswer{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	_ = json.Unmarshal(raw, &a.json)
	return a
}

func str(s string) *string { return &s }

// checkAnswer fails unless a is status with errcode, as a JSON body.
func checkAnswer(t *testing.T, what string, a rawAnswer, status int, errcode string) {
	t.Helper()
	if a.status != status || a.errcode() != errcode {
		t.Errorf("%s: got %d %q (Location %q), want %d %s", what, a.status, a.body, a.header.Get("Location"), status, errcode)
		return
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
}

// Paths with "..", "." or "//" segments are not cleaned and redirected:
// no route has them, so they are unknown endpoints.
func TestSpecErrorsUncleanPaths(t *testing.T) {
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	tok := alice.AccessToken
	for _, path := range []string{
		"/_matrix/client/v3/sync/../account/whoami",
		"/_matrix/client/v3/./account/whoami",
		"/_matrix/client/v3//account/whoami",
		"//_matrix/client/v3/account/whoami",
		"/_matrix/client/v3/account/whoami/.",
		"/_matrix/client/v3/account/whoami/..",
		"/_matrix/federation/v1/../v1/version",
		"/_matrix/federation//v1/version",
		"/_matrix/key/v2/./server",
		"/_matrix/media/v3/../v3/config",
		"/_matrix/client/v1/media//config",
	} {
		t.Run(path, func(t *testing.T) {
			checkAnswer(t, "GET "+path, specCall(t, srv.URL, tok, http.MethodGet, path, nil), http.StatusNotFound, "M_UNRECOGNIZED")
		})
	}
	// The clean paths work.
	for _, path := range []string{"/_matrix/client/v3/account/whoami", "/_matrix/federation/v1/version", "/_matrix/client/v1/media/config"} {
		if a := specCall(t, srv.URL, tok, http.MethodGet, path, nil); a.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, a.status, a.body)
		}
	}
}

// A known path called with a method it does not serve is 405
// M_UNRECOGNIZED, naming the methods it serves; an unknown path is 404.
func TestSpecErrorsWrongMethod(t *testing.T) {
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	tok := alice.AccessToken
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodDelete, "/_matrix/client/v3/login", 405, "GET, POST"},
		{http.MethodPut, "/_matrix/client/r0/login", 405, "GET, POST"},
		{http.MethodGet, "/_matrix/client/v3/createRoom", 405, "POST"},
		{http.MethodPost, "/_matrix/client/v3/sync", 405, "GET"},
		{http.MethodPut, "/_matrix/client/v3/account/whoami", 405, "GET"},
		{http.MethodGet, "/_matrix/client/v3/rooms/!r:localhost/send/m.room.message/t1", 405, "PUT"},
		{http.MethodPost, "/_matrix/client/versions", 405, "GET"},
		{http.MethodPost, "/_matrix/federation/v1/version", 405, "GET"},
		{http.MethodDelete, "/_matrix/federation/v1/send/txn1", 405, "PUT"},
		{http.MethodPost, "/_matrix/key/v2/server", 405, "GET"},
		{http.MethodPost, "/_matrix/media/v3/config", 405, "GET"},
		{http.MethodPost, "/_matrix/client/v1/media/config", 405, "GET"},
		{http.MethodGet, "/_matrix/media/v3/upload", 405, "POST"},
		{http.MethodGet, "/_matrix/client/v3/no/such/endpoint", 404, ""},
		{http.MethodPost, "/_matrix/federation/v1/no/such/endpoint", 404, ""},
		{http.MethodGet, "/_matrix/media/v3/nothing", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			a := specCall(t, srv.URL, tok, tc.method, tc.path, nil)
			checkAnswer(t, tc.method+" "+tc.path, a, tc.status, "M_UNRECOGNIZED")
			if tc.allow != "" && !sameMethods(a.header.Get("Allow"), tc.allow) {
				t.Errorf("Allow: %q, want %q", a.header.Get("Allow"), tc.allow)
			}
		})
	}
	// A CORS preflight is answered for any path, whatever methods it has.
	for _, path := range []string{"/_matrix/client/v3/login", "/_matrix/client/v3/createRoom", "/_matrix/media/v3/upload"} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+path, nil)
		req.Header.Set("Origin", "https://app.element.io")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("OPTIONS %s: %d, Access-Control-Allow-Origin %q", path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

// sameMethods compares two Allow header values as sets, ignoring HEAD.
func sameMethods(got, want string) bool {
	set := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" && v != http.MethodHead {
				m[v] = true
			}
		}
		return m
	}
	g, w := set(got), set(want)
	if len(g) != len(w) {
		return false
	}
	for k := range w {
		if !g[k] {
			return false
		}
	}
	return true
}
