package federationapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

// memKeys is a key database in memory, with no fetchers behind it: what
// it does not hold is unknown.
type memKeys struct {
	keys    map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult
	lookups atomic.Int32
}

func (m *memKeys) FetcherName() string { return "memory" }

func (m *memKeys) FetchKeys(_ context.Context, reqs map[gomatrixserverlib.PublicKeyLookupRequest]spec.Timestamp) (map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult, error) {
	m.lookups.Add(1)
	out := map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult{}
	for req := range reqs {
		if res, ok := m.keys[req]; ok {
			out[req] = res
		}
	}
	return out, nil
}

func (m *memKeys) StoreKeys(context.Context, map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult) error {
	return nil
}

// brokenKeys fails like a database that is down.
type brokenKeys struct{}

func (brokenKeys) VerifyJSONs(context.Context, []gomatrixserverlib.VerifyJSONRequest) ([]gomatrixserverlib.VerifyJSONResult, error) {
	return nil, errors.New("database down")
}

// authFixture is server "amt.example" (also answering as "alt.example")
// verifying requests of "partner.example", whose key it knows.
type authFixture struct {
	partner serverkey.Key
	keys    *memKeys
	handler http.Handler
}

func newAuthFixture(t testing.TB, edit func(*config.Config)) *authFixture {
	t.Helper()
	partner := newSigningKey(t, "partner.example")
	keys := &memKeys{keys: map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult{
		{ServerName: partner.ServerName, KeyID: partner.ID}: {
			VerifyKey:    gomatrixserverlib.VerifyKey{Key: spec.Base64Bytes(partner.Public())},
			ValidUntilTS: ownKeyValidity,
		},
	}}
	cfg := config.Default()
	cfg.ServerName = "amt.example"
	if edit != nil {
		edit(cfg)
	}
	policy, err := NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	isLocal := func(s spec.ServerName) bool { return s == "amt.example" || s == "alt.example" }
	v := NewVerifier(isLocal, "amt.example", gomatrixserverlib.KeyRing{KeyDatabase: keys}, policy)
	return &authFixture{partner: partner, keys: keys, handler: v.Handler(echoOrigin)}
}

// echoOrigin answers with who asked and what they sent.
func echoOrigin(r *http.Request, origin spec.ServerName, content []byte) (any, error) {
	return map[string]any{"origin": origin, "content": json.RawMessage(orEmpty(content))}, nil
}

func orEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte(`null`)
	}
	return b
}

// inboundSigned is a request as a server receives it, signed by key for
// dest.
func inboundSigned(t testing.TB, key serverkey.Key, method string, dest spec.ServerName, uri string, content any) *http.Request {
	t.Helper()
	fr := fclient.NewFederationRequest(method, key.ServerName, dest, uri)
	if content != nil {
		if err := fr.SetContent(content); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.Sign(key.ServerName, key.ID, key.Private); err != nil {
		t.Fatal(err)
	}
	out, err := fr.HTTPRequest()
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(method, uri, bytes.NewReader(fr.Content()))
	req.Header = out.Header.Clone()
	return req
}

func serveRecorded(h http.Handler, req *http.Request) (int, map[string]json.RawMessage) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]json.RawMessage
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func errcodeIn(body map[string]json.RawMessage) string {
	var c string
	_ = json.Unmarshal(body["errcode"], &c)
	return c
}

func TestVerifier(t *testing.T) {
	const uri = "/_matrix/federation/v1/test/%21room%3Aexample?limit=5"
	f := newAuthFixture(t, nil)
	stranger := newSigningKey(t, "partner.example")
	stranger.ID = "ed25519:unknown"
	tamper := func(edit func(r *http.Request)) func(t testing.TB) *http.Request {
		return func(t testing.TB) *http.Request {
			r := inboundSigned(t, f.partner, http.MethodPut, "amt.example", uri, map[string]int{"a": 1})
			edit(r)
			return r
		}
	}
	setAuth := func(h string) func(r *http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", h) }
	}
	tests := []struct {
		name    string
		req     func(t testing.TB) *http.Request
		status  int
		errcode string
	}{
		{"signed GET", func(t testing.TB) *http.Request {
			return inboundSigned(t, f.partner, http.MethodGet, "amt.example", uri, nil)
		}, 200, ""},
		{"signed PUT with content", tamper(func(*http.Request) {}), 200, ""},
		{"for our other server name", func(t testing.TB) *http.Request {
			return inboundSigned(t, f.partner, http.MethodGet, "alt.example", uri, nil)
		}, 200, ""},
		{"without destination (before v1.3)", func(t testing.TB) *http.Request {
			r := inboundSigned(t, f.partner, http.MethodGet, "amt.example", uri, nil)
			_, o, _, k, s := fclient.ParseAuthorization(r.Header.Get("Authorization"))
			r.Header.Set("Authorization", `X-Matrix origin="`+string(o)+`",key="`+string(k)+`",sig="`+s+`"`)
			return r
		}, 200, ""},
		{"tampered signature", tamper(func(r *http.Request) {
			h := r.Header.Get("Authorization")
			i := strings.Index(h, `sig="`) + 5
			c := byte('A')
			if h[i] == 'A' {
				c = 'B'
			}
			r.Header.Set("Authorization", h[:i]+string(c)+h[i+1:])
		}), 401, "M_UNAUTHORIZED"},
		{"tampered content", tamper(func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"a":2}`))
			r.ContentLength = 7
		}), 401, "M_UNAUTHORIZED"},
		{"tampered path", tamper(func(r *http.Request) { r.URL.Path += "x"; r.URL.RawPath = "" }), 401, "M_UNAUTHORIZED"},
		{"tampered query", tamper(func(r *http.Request) { r.URL.RawQuery = "limit=500" }), 401, "M_UNAUTHORIZED"},
		{"tampered method", tamper(func(r *http.Request) { r.Method = http.MethodPost }), 401, "M_UNAUTHORIZED"},
		{"wrong destination", func(t testing.TB) *http.Request {
			return inboundSigned(t, f.partner, http.MethodGet, "other.example", uri, nil)
		}, 401, "M_UNAUTHORIZED"},
		{"unknown key", func(t testing.TB) *http.Request {
			return inboundSigned(t, stranger, http.MethodGet, "amt.example", uri, nil)
		}, 401, "M_UNAUTHORIZED"},
		{"no Authorization", tamper(func(r *http.Request) { r.Header.Del("Authorization") }), 401, "M_UNAUTHORIZED"},
		{"another scheme only", tamper(setAuth("Bearer abc")), 401, "M_UNAUTHORIZED"},
		{"no signature", tamper(setAuth(`X-Matrix origin="partner.example",key="ed25519:a"`)), 401, "M_UNAUTHORIZED"},
		{"origin not a server name", tamper(setAuth(`X-Matrix origin="not a name",key="ed25519:a",sig="abc"`)), 400, "M_UNAUTHORIZED"},
		{"two origins", tamper(func(r *http.Request) {
			r.Header.Add("Authorization", `X-Matrix origin="evil.example",key="ed25519:a",sig="abc"`)
		}), 401, "M_UNAUTHORIZED"},
		{"content not JSON", tamper(func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"a":`))
		}), 400, "M_NOT_JSON"},
		{"content not UTF-8", tamper(func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("{\"a\":\"\xff\"}"))
		}), 400, "M_NOT_JSON"},
		{"content type not JSON", tamper(func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }), 400, "M_NOT_JSON"},
		{"content too large", tamper(func(r *http.Request) {
			r.Body = io.NopCloser(bytes.NewReader(make([]byte, MaxRequestBody+1)))
			r.ContentLength = -1
		}), 413, "M_TOO_LARGE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := serveRecorded(f.handler, tc.req(t))
			if code != tc.status || errcodeIn(body) != tc.errcode {
				t.Fatalf("got %d %s, want %d %s", code, body, tc.status, tc.errcode)
			}
			if code == 200 && string(body["origin"]) != `"partner.example"` {
				t.Fatalf("origin = %s", body["origin"])
			}
		})
	}
}

// A server outside the policy is refused before its signature is checked,
// so that it never makes us look up (and fetch) keys.
func TestVerifierPolicy(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*config.Config)
		status int
	}{
		{"not on the whitelist", func(c *config.Config) { c.FederationDomainWhitelist = &[]string{"other.example"} }, 403},
		{"federation off", func(c *config.Config) { c.FederationDomainWhitelist = &[]string{} }, 403},
		{"on the denylist", func(c *config.Config) { c.FederationDomainDenylist = []string{"Partner.Example"} }, 403},
		{"on the whitelist", func(c *config.Config) { c.FederationDomainWhitelist = &[]string{"partner.example"} }, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newAuthFixture(t, tc.edit)
			code, body := serveRecorded(f.handler, inboundSigned(t, f.partner, http.MethodGet, "amt.example", "/x", nil))
			if code != tc.status {
				t.Fatalf("got %d %s", code, body)
			}
			if code == 403 {
				if errcodeIn(body) != "M_FORBIDDEN" {
					t.Fatalf("errcode %s", body["errcode"])
				}
				if f.keys.lookups.Load() != 0 {
					t.Fatal("keys were looked up for a refused server")
				}
			}
		})
	}
}

func TestVerifierLogsRefusals(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	f := newAuthFixture(t, nil)
	serveRecorded(f.handler, inboundSigned(t, f.partner, http.MethodGet, "other.example", "/_matrix/federation/v1/x", nil))
	log := buf.String()
	for _, want := range []string{"federation request refused", "origin=partner.example", "path=/_matrix/federation/v1/x", "reason="} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q: %s", want, log)
		}
	}
}

// A failing key database is our fault, not the peer's: a 500 that says
// nothing.
func TestVerifierKeyDatabaseDown(t *testing.T) {
	policy, _ := NewPolicy(config.Default())
	partner := newSigningKey(t, "partner.example")
	v := NewVerifier(func(s spec.ServerName) bool { return s == "localhost" }, "localhost", brokenKeys{}, policy)
	code, body := serveRecorded(v.Handler(echoOrigin), inboundSigned(t, partner, http.MethodGet, "localhost", "/x", nil))
	if code != 500 || errcodeIn(body) != "M_UNKNOWN" {
		t.Fatalf("got %d %s", code, body)
	}
}

// FuzzXMatrixHeader feeds Authorization headers to the parser and to the
// verifier on a recorded request: no panic, no 500, and only the recorded
// signature is ever accepted.
func FuzzXMatrixHeader(f *testing.F) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	fx := newAuthFixture(f, nil)
	const uri = "/_matrix/federation/v1/send/123"
	recorded := inboundSigned(f, fx.partner, http.MethodPut, "amt.example", uri, map[string]any{"pdus": []any{}})
	content, _ := io.ReadAll(recorded.Body)
	valid := recorded.Header.Get("Authorization")
	_, _, _, _, validSig := fclient.ParseAuthorization(valid)
	for _, seed := range []string{
		valid,
		strings.ReplaceAll(valid, `"`, ""),
		strings.ReplaceAll(valid, ",", ", "),
		`X-Matrix origin="partner.example",key="ed25519:x",sig="",destination="amt.example"`,
		`X-Matrix origin=partner.example,key=ed25519:x,sig=AAAA`,
		"X-Matrix",
		"X-Matrix ",
		"X-Matrix ,,,==,",
		`X-Matrix origin="[::1]:8448",key="ed25519:x",sig="abc"`,
		"Bearer token",
		"",
		"X-Matrix origin=\"\xff\",key=\"\x00\",sig=\"é\"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		_, origin, _, key, sig := fclient.ParseAuthorization(header)
		req := httptest.NewRequest(http.MethodPut, uri, bytes.NewReader(content))
		req.Header.Set("Content-Type", "application/json")
		req.Header["Authorization"] = []string{header}
		code, body := serveRecorded(fx.handler, req)
		switch code {
		case 200:
			if origin != fx.partner.ServerName || key != fx.partner.ID || sig != validSig {
				t.Fatalf("accepted %q", header)
			}
		case 400, 401, 403:
			if errcodeIn(body) == "" {
				t.Fatalf("%d without errcode for %q", code, header)
			}
		default:
			t.Fatalf("%d for %q: %s", code, header, body)
		}
	})
}
