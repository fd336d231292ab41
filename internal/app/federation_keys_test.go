package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

// fedSide is one server's key ring, client and policy, built from its
// configuration as the federation API builds them.
type fedSide struct {
	srv    *apptest.Server
	key    serverkey.Key
	client fclient.FederationClient
	ring   *gomatrixserverlib.KeyRing
	policy *federationapi.Policy
}

func newFedSide(t *testing.T, s *apptest.Server) *fedSide {
	t.Helper()
	client, err := federationapi.NewFederationClient(s.App.Config, s.App.Keys)
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(context.Background(), s.App.DB)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := federationapi.NewPolicy(s.App.Config)
	if err != nil {
		t.Fatal(err)
	}
	ring := federationapi.NewKeyRing(store, client, nil, s.App.Config.IsLocal, s.App.Keys)
	return &fedSide{srv: s, key: s.App.Keys[0], client: client, ring: ring, policy: policy}
}

// signed builds a request of key's server to dest, signed as the client
// would sign it.
func signed(t *testing.T, key serverkey.Key, dest spec.ServerName, path string, content any) fclient.FederationRequest {
	t.Helper()
	fr := fclient.NewFederationRequest(http.MethodPut, key.ServerName, dest, path)
	if err := fr.SetContent(content); err != nil {
		t.Fatal(err)
	}
	if err := fr.Sign(key.ServerName, key.ID, key.Private); err != nil {
		t.Fatal(err)
	}
	return fr
}

func TestFederationKeysAndRequestAuth(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	a, b := newFedSide(t, servers[0]), newFedSide(t, servers[1])
	ctx := context.Background()

	var keyFetches atomic.Int32
	bRoutes := b.srv.App.Handler()
	b.srv.Handle("GET /_matrix/key/v2/server", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keyFetches.Add(1)
		bRoutes.ServeHTTP(w, r)
	}))

	t.Run("B publishes its key with old_verify_keys", func(t *testing.T) {
		keys, err := a.client.GetServerKeys(ctx, b.srv.ServerName)
		if err != nil {
			t.Fatal(err)
		}
		if checks, _ := gomatrixserverlib.CheckKeys(b.srv.ServerName, time.Now(), keys); !checks.AllChecksOK {
			t.Fatalf("B's key response fails its checks: %s", keys.Raw)
		}
		if !bytes.Contains(keys.Raw, []byte(`"old_verify_keys":{}`)) {
			t.Fatalf("no old_verify_keys: %s", keys.Raw)
		}
	})

	t.Run("A fetches B's key once, then from its database", func(t *testing.T) {
		before := keyFetches.Load()
		msg, err := gomatrixserverlib.SignJSON(string(b.key.ServerName), b.key.ID, b.key.Private, []byte(`{"from":"b"}`))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			res, err := a.ring.VerifyJSONs(ctx, []gomatrixserverlib.VerifyJSONRequest{{
				ServerName: b.srv.ServerName, AtTS: spec.AsTimestamp(time.Now()), Message: msg,
				ValidityCheckingFunc: gomatrixserverlib.StrictValiditySignatureCheck,
			}})
			if err != nil || res[0].Error != nil {
				t.Fatalf("verification %d: %v %v", i, err, res)
			}
		}
		if n := keyFetches.Load() - before; n != 1 {
			t.Fatalf("B's key was fetched %d times, want 1", n)
		}
	})

	// B serves a test endpoint through the verifier, once with its own
	// policy and once with an allow-list that does not name A. The path
	// holds escaped characters: the signature covers the raw path.
	echo := func(r *http.Request, origin spec.ServerName, content []byte) (any, error) {
		return map[string]any{"origin": origin, "content": json.RawMessage(content)}, nil
	}
	verifier := federationapi.NewVerifier(b.srv.App.Config.IsLocal, b.srv.ServerName, b.ring, b.policy)
	b.srv.Handle("PUT /_matrix/federation/unstable/org.rohrpost.test/echo/{id}", verifier.Handler(echo))
	restricted := *b.srv.App.Config
	restricted.FederationDomainWhitelist = &[]string{"partner.example"}
	onlyPartner, err := federationapi.NewPolicy(&restricted)
	if err != nil {
		t.Fatal(err)
	}
	b.srv.Handle("PUT /_matrix/federation/unstable/org.rohrpost.test/allowlisted/{id}",
		federationapi.NewVerifier(b.srv.App.Config.IsLocal, b.srv.ServerName, b.ring, onlyPartner).Handler(echo))
	const echoPath = "/_matrix/federation/unstable/org.rohrpost.test/echo/%24ev%3Aexample"

	t.Run("A's signed request is verified by B", func(t *testing.T) {
		fr := signed(t, a.key, b.srv.ServerName, echoPath, map[string]string{"hello": "b"})
		req, err := fr.HTTPRequest()
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Origin  spec.ServerName   `json:"origin"`
			Content map[string]string `json:"content"`
		}
		if err := a.client.DoRequestAndParseResponse(ctx, req, &out); err != nil {
			t.Fatal(err)
		}
		if out.Origin != a.srv.ServerName || out.Content["hello"] != "b" {
			t.Fatalf("B saw %+v", out)
		}
	})

	t.Run("version", func(t *testing.T) {
		v, err := a.client.(interface {
			GetVersion(context.Context, spec.ServerName) (fclient.Version, error)
		}).GetVersion(ctx, b.srv.ServerName)
		if err != nil || v.Server.Name != "rohrpost" {
			t.Fatalf("%+v, %v", v, err)
		}
	})

	stranger := a.key
	stranger.ID = "ed25519:unknown"
	_, stranger.Private, _ = serverkey.Generate()
	tests := []struct {
		name    string
		req     func() fclient.FederationRequest
		path    string
		tamper  func(h http.Header)
		status  int
		errcode string
	}{
		{"tampered signature", func() fclient.FederationRequest {
			return signed(t, a.key, b.srv.ServerName, echoPath, map[string]int{"n": 1})
		}, echoPath, func(h http.Header) {
			// One character of the signature changed, its length kept.
			auth := h.Get("Authorization")
			i := strings.Index(auth, `sig="`) + len(`sig="`)
			c := "A"
			if auth[i] == 'A' {
				c = "B"
			}
			h.Set("Authorization", auth[:i]+c+auth[i+1:])
		}, 401, "M_UNAUTHORIZED"},
		{"wrong destination", func() fclient.FederationRequest {
			return signed(t, a.key, "other.example", echoPath, map[string]int{"n": 1})
		}, echoPath, nil, 401, "M_UNAUTHORIZED"},
		{"unknown key", func() fclient.FederationRequest {
			return signed(t, stranger, b.srv.ServerName, echoPath, map[string]int{"n": 1})
		}, echoPath, nil, 401, "M_UNAUTHORIZED"},
		{"outside the allow-list", func() fclient.FederationRequest {
			return signed(t, a.key, b.srv.ServerName, "/_matrix/federation/unstable/org.rohrpost.test/allowlisted/1", map[string]int{"n": 1})
		}, "/_matrix/federation/unstable/org.rohrpost.test/allowlisted/1", nil, 403, "M_FORBIDDEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := tc.req()
			out, err := fr.HTTPRequest()
			if err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				tc.tamper(out.Header)
			}
			req, err := http.NewRequest(http.MethodPut, b.srv.TLSURL+tc.path, bytes.NewReader(fr.Content()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = out.Header
			resp, err := a.srv.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var e struct {
				Errcode string `json:"errcode"`
			}
			_ = json.Unmarshal(body, &e)
			if resp.StatusCode != tc.status || e.Errcode != tc.errcode {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.errcode)
			}
		})
	}

	t.Run("B's notary vouches for A", func(t *testing.T) {
		resp, err := a.srv.HTTPClient().Post(b.srv.TLSURL+"/_matrix/key/v2/query", "application/json",
			strings.NewReader(`{"server_keys":{"`+string(a.srv.ServerName)+`":{}}}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			ServerKeys []json.RawMessage `json:"server_keys"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.ServerKeys) != 1 {
			t.Fatalf("%d: %+v, %v", resp.StatusCode, out, err)
		}
		raw := out.ServerKeys[0]
		if err := gomatrixserverlib.VerifyJSON(string(a.key.ServerName), a.key.ID, a.key.Public(), raw); err != nil {
			t.Errorf("A's own signature: %v", err)
		}
		if err := gomatrixserverlib.VerifyJSON(string(b.key.ServerName), b.key.ID, b.key.Public(), raw); err != nil {
			t.Errorf("B's countersignature: %v", err)
		}
	})
}

// The harness: clients reach a federated server over its TLS listener
// with the test CA, and a restarted server is reached again under its
// name, with its key unchanged.
func TestFederationHarnessRestart(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	a, b := newFedSide(t, servers[0]), servers[1]
	ctx := context.Background()
	cli := b.RegisterTLS(t, "carol")
	if _, err := cli.Whoami(ctx); err != nil {
		t.Fatalf("client over TLS: %v", err)
	}
	before, err := a.client.GetServerKeys(ctx, b.ServerName)
	if err != nil {
		t.Fatal(err)
	}
	b.Restart(t)
	after, err := a.client.GetServerKeys(ctx, b.ServerName)
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	for id := range before.VerifyKeys {
		if _, ok := after.VerifyKeys[id]; !ok {
			t.Fatalf("key %s is gone after the restart", id)
		}
	}
}
