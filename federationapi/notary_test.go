package federationapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

// notaryFixture is a notary behind a router, for requests that need no
// TLS.
type notaryFixture struct {
	key    serverkey.Key
	store  *storage.Store
	router *mux.Router
}

func newNotaryFixture(t *testing.T, ca *fedTestCA, name spec.ServerName, edit func(*config.Config)) *notaryFixture {
	t.Helper()
	key := newSigningKey(t, name)
	cfg := fedTestConfig(key.ServerName, ca)
	if edit != nil {
		edit(cfg)
	}
	client, err := NewFederationClient(cfg, []serverkey.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store := openKeyStore(t)
	n, err := NewNotary(store, client, []serverkey.Key{key}, policy)
	if err != nil {
		t.Fatal(err)
	}
	r := mxhttp.NewRouter()
	n.Routes(r)
	VersionRoutes(r)
	return &notaryFixture{key: key, store: store, router: r}
}

// do sends a request to the notary and decodes the answer.
func (f *notaryFixture) do(t *testing.T, method, path, body string) (int, map[string]json.RawMessage) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Host = string(f.key.ServerName)
	f.router.ServeHTTP(rec, req)
	var out map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: %d %q", method, path, rec.Code, rec.Body.String())
	}
	return rec.Code, out
}

func (f *notaryFixture) query(t *testing.T, server spec.ServerName, minValid time.Time) []json.RawMessage {
	t.Helper()
	body := fmt.Sprintf(`{"server_keys":{%q:{}}}`, server)
	if !minValid.IsZero() {
		body = fmt.Sprintf(`{"server_keys":{%q:{"ed25519:x":{"minimum_valid_until_ts":%d}}}}`, server, spec.AsTimestamp(minValid))
	}
	code, out := f.do(t, http.MethodPost, "/_matrix/key/v2/query", body)
	if code != http.StatusOK {
		t.Fatalf("query: %d %s", code, out["errcode"])
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(out["server_keys"], &raws); err != nil || raws == nil {
		t.Fatalf("server_keys = %s", out["server_keys"])
	}
	return raws
}

// checkSigned fails unless raw is server's key response with its own
// signature and the notary's.
func checkSigned(t *testing.T, raw []byte, server serverkey.Key, notary serverkey.Key) {
	t.Helper()
	var keys gomatrixserverlib.ServerKeys
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	if checks, _ := gomatrixserverlib.CheckKeys(server.ServerName, time.Now(), keys); !checks.AllChecksOK {
		t.Errorf("the response of %s fails its checks: %s", server.ServerName, raw)
	}
	if err := gomatrixserverlib.VerifyJSON(string(notary.ServerName), notary.ID, notary.Public(), raw); err != nil {
		t.Errorf("no countersignature: %v", err)
	}
}

func TestNotaryAnswersAndCaches(t *testing.T) {
	ca := newFedTestCA(t)
	remote := startFakeHomeserver(t, ca)
	n := newNotaryFixture(t, ca, "notary.example", nil)

	raws := n.query(t, remote.name, time.Time{})
	if len(raws) != 1 {
		t.Fatalf("%d responses", len(raws))
	}
	checkSigned(t, raws[0], remote.key, n.key)
	if len(n.query(t, remote.name, time.Time{})) != 1 || remote.hits.Load() != 1 {
		t.Fatalf("a fresh response was fetched again (%d fetches)", remote.hits.Load())
	}
	// The notary learnt the keys for its own key ring too.
	if keys, _ := n.store.ServerKeys(context.Background(), []spec.ServerName{remote.name}); len(keys) != 1 {
		t.Fatalf("key ring table: %v", keys)
	}

	// Wanting validity beyond what we hold makes us ask again.
	n.query(t, remote.name, time.Now().Add(2*time.Hour))
	if remote.hits.Load() != 2 {
		t.Fatalf("%d fetches, want 2", remote.hits.Load())
	}
	// An unreachable server gets its last response: old events stay
	// checkable.
	remote.down.Store(true)
	raws = n.query(t, remote.name, time.Now().Add(2*time.Hour))
	if len(raws) != 1 {
		t.Fatalf("with the server down: %d responses", len(raws))
	}
	checkSigned(t, raws[0], remote.key, n.key)

	// GET /query/{serverName} answers the same.
	code, out := n.do(t, http.MethodGet, "/_matrix/key/v2/query/"+string(remote.name), "")
	if code != http.StatusOK || !bytes.Contains(out["server_keys"], []byte(remote.key.ID)) {
		t.Fatalf("GET: %d %s", code, out["server_keys"])
	}
}

func TestNotaryAnswersForItself(t *testing.T) {
	n := newNotaryFixture(t, newFedTestCA(t), "notary.example", nil)
	raws := n.query(t, n.key.ServerName, time.Time{})
	if len(raws) != 1 {
		t.Fatalf("%d responses", len(raws))
	}
	checkSigned(t, raws[0], n.key, n.key)
	var body map[string]json.RawMessage
	_ = json.Unmarshal(raws[0], &body)
	if string(body["old_verify_keys"]) != "{}" {
		t.Errorf("old_verify_keys = %s", body["old_verify_keys"])
	}
}

func TestNotaryLeavesOut(t *testing.T) {
	ca := newFedTestCA(t)
	remote := startFakeHomeserver(t, ca)
	n := newNotaryFixture(t, ca, "notary.example", func(c *config.Config) { c.FederationDomainDenylist = []string{string(remote.name)} })
	tests := []struct {
		name   string
		server spec.ServerName
	}{
		{"a server the policy refuses", remote.name},
		{"a server that never answered", "127.0.0.1:1"},
		{"not a server name", "no such name!"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if raws := n.query(t, tc.server, time.Time{}); len(raws) != 0 {
				t.Fatalf("answered %s", raws)
			}
		})
	}
	if remote.hits.Load() != 0 {
		t.Fatal("the refused server was contacted")
	}
}

func TestNotaryBadRequests(t *testing.T) {
	n := newNotaryFixture(t, newFedTestCA(t), "notary.example", nil)
	many := map[string]any{}
	for i := 0; i <= maxNotaryServers; i++ {
		many[fmt.Sprintf("s%d.example", i)] = map[string]any{}
	}
	tooMany, _ := json.Marshal(map[string]any{"server_keys": many})
	tests := []struct {
		name, method, path, body string
		status                   int
		errcode                  string
	}{
		{"not JSON", http.MethodPost, "/_matrix/key/v2/query", "{", 400, "M_NOT_JSON"},
		{"no server_keys", http.MethodPost, "/_matrix/key/v2/query", "{}", 400, "M_BAD_JSON"},
		{"server_keys of the wrong type", http.MethodPost, "/_matrix/key/v2/query", `{"server_keys":[]}`, 400, "M_BAD_JSON"},
		{"too many servers", http.MethodPost, "/_matrix/key/v2/query", string(tooMany), 400, "M_INVALID_PARAM"},
		{"bad minimum_valid_until_ts", http.MethodGet, "/_matrix/key/v2/query/a.example?minimum_valid_until_ts=soon", "", 400, "M_INVALID_PARAM"},
		{"no servers", http.MethodPost, "/_matrix/key/v2/query", `{"server_keys":{}}`, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := n.do(t, tc.method, tc.path, tc.body)
			var errcode string
			_ = json.Unmarshal(out["errcode"], &errcode)
			if code != tc.status || errcode != tc.errcode {
				t.Fatalf("got %d %s, want %d %s", code, errcode, tc.status, tc.errcode)
			}
			if code == 200 && string(out["server_keys"]) != "[]" {
				t.Fatalf("server_keys = %s", out["server_keys"])
			}
		})
	}
}

func TestVersion(t *testing.T) {
	n := newNotaryFixture(t, newFedTestCA(t), "notary.example", nil)
	code, out := n.do(t, http.MethodGet, "/_matrix/federation/v1/version", "")
	var v struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(out["server"], &v); code != 200 || err != nil || v.Name != "rohrpost" || v.Version == "" {
		t.Fatalf("%d %s", code, out["server"])
	}
}

// serveNotary runs a notary over TLS, as a trusted key server for other
// tests, and returns its key.
func serveNotary(t *testing.T, ca *fedTestCA) serverkey.Key {
	t.Helper()
	var n *notaryFixture
	ready := make(chan struct{})
	name, _ := ca.serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		n.router.ServeHTTP(w, r)
	}))
	n = newNotaryFixture(t, ca, name, nil)
	close(ready)
	return n.key
}

// queryNotary asks the notary at name, over TLS, for server's keys.
func queryNotary(t *testing.T, ca *fedTestCA, name, server spec.ServerName) []json.RawMessage {
	t.Helper()
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := hc.Post("https://"+string(name)+"/_matrix/key/v2/query", "application/json",
		strings.NewReader(fmt.Sprintf(`{"server_keys":{%q:{}}}`, server)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out queryResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.ServerKeys
}

// A server that stops listing a key cannot make the notary forget it: a
// question about that key, valid until a time it was valid, is answered
// with the response that had it, without asking the server again.
func TestNotaryKeepsForgottenKeys(t *testing.T) {
	ca := newFedTestCA(t)
	remote := startFakeHomeserver(t, ca)
	n := newNotaryFixture(t, ca, "notary.example", nil)
	first := remote.key
	remote.valid = -24 * time.Hour // an expired response, as a notary may still serve
	ask := func(keyID gomatrixserverlib.KeyID, minValid time.Time) []json.RawMessage {
		t.Helper()
		body := fmt.Sprintf(`{"server_keys":{%q:{%q:{"minimum_valid_until_ts":%d}}}}`, remote.name, keyID, spec.AsTimestamp(minValid))
		code, out := n.do(t, http.MethodPost, "/_matrix/key/v2/query", body)
		if code != http.StatusOK {
			t.Fatalf("query: %d %s", code, out["errcode"])
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(out["server_keys"], &raws); err != nil {
			t.Fatal(err)
		}
		return raws
	}
	holds := func(raws []json.RawMessage, keyID gomatrixserverlib.KeyID) bool {
		for _, raw := range raws {
			if gjson.GetBytes(raw, "verify_keys").Get(gjson.Escape(string(keyID))).Exists() {
				return true
			}
		}
		return false
	}
	expiry := time.Now().Add(-24 * time.Hour)
	if raws := ask(first.ID, time.Now()); !holds(raws, first.ID) {
		t.Fatalf("first answer lacks %s: %s", first.ID, raws)
	}
	// The server now signs with another key and lists only that one.
	remote.key = newSigningKey(t, remote.name)
	remote.valid = -24*time.Hour + time.Second
	ask(first.ID, time.Now()) // makes the notary fetch again
	hits := remote.hits.Load()
	if raws := ask(first.ID, expiry.Add(-time.Minute)); !holds(raws, first.ID) {
		t.Fatalf("the forgotten key is gone: %s", raws)
	}
	if remote.hits.Load() != hits {
		t.Fatal("a question the stored response answers made the notary fetch again")
	}
	// Asked for no key in particular: the newest response.
	if raws := n.query(t, remote.name, time.Time{}); !holds(raws, remote.key.ID) {
		t.Fatalf("newest response: %s", raws)
	}
}
