package federationapi

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/internal/testdb"
)

// fakeHomeserver is another homeserver as far as keys go: it publishes its
// key at /_matrix/key/v2/server over TLS and counts who asks.
type fakeHomeserver struct {
	name spec.ServerName
	key  serverkey.Key
	// old is put into old_verify_keys as it is.
	old   map[string]any
	valid time.Duration
	hits  atomic.Int32
	down  atomic.Bool
}

func startFakeHomeserver(t *testing.T, ca *fedTestCA) *fakeHomeserver {
	t.Helper()
	f := &fakeHomeserver{old: map[string]any{}, valid: time.Hour}
	ready := make(chan struct{})
	name, _ := ca.serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		if f.down.Load() || r.URL.Path != "/_matrix/key/v2/server" {
			http.Error(w, `{"errcode":"M_UNKNOWN"}`, http.StatusServiceUnavailable)
			return
		}
		f.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f.keyResponse(t))
	}))
	f.name, f.key = name, newSigningKey(t, name)
	close(ready)
	return f
}

func (f *fakeHomeserver) keyResponse(t *testing.T) []byte {
	raw, err := json.Marshal(map[string]any{
		"server_name":     f.name,
		"valid_until_ts":  spec.AsTimestamp(time.Now().Add(f.valid)),
		"verify_keys":     map[gomatrixserverlib.KeyID]verifyKey{f.key.ID: {Key: spec.Base64Bytes(f.key.Public())}},
		"old_verify_keys": f.old,
	})
	if err != nil {
		t.Error(err)
	}
	signed, err := gomatrixserverlib.SignJSON(string(f.name), f.key.ID, f.key.Private, raw)
	if err != nil {
		t.Error(err)
	}
	return signed
}

// sign returns a small JSON object signed by key.
func signedHello(t *testing.T, key serverkey.Key, keyID gomatrixserverlib.KeyID) []byte {
	t.Helper()
	signed, err := gomatrixserverlib.SignJSON(string(key.ServerName), keyID, key.Private, []byte(`{"hello":"world"}`))
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func openKeyStore(t *testing.T) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newRing is the key ring of local server name "amt.example", trusting
// ca and allowed to reach loopback.
func newRing(t *testing.T, ca *fedTestCA, store *storage.Store, trusted ...config.TrustedKeyServer) (*gomatrixserverlib.KeyRing, serverkey.Key) {
	t.Helper()
	local := newSigningKey(t, "amt.example")
	client, err := NewFederationClient(fedTestConfig(local.ServerName, ca), []serverkey.Key{local})
	if err != nil {
		t.Fatal(err)
	}
	isLocal := func(s spec.ServerName) bool { return s == local.ServerName }
	return NewKeyRing(store, client, trusted, isLocal, []serverkey.Key{local}), local
}

func verifyOne(ring gomatrixserverlib.JSONVerifier, server spec.ServerName, at time.Time, msg []byte) error {
	res, err := ring.VerifyJSONs(context.Background(), []gomatrixserverlib.VerifyJSONRequest{{
		ServerName: server, AtTS: spec.AsTimestamp(at), Message: msg,
		ValidityCheckingFunc: gomatrixserverlib.StrictValiditySignatureCheck,
	}})
	if err != nil {
		return err
	}
	return res[0].Error
}

func TestKeyRingFetchesOnceAndCaches(t *testing.T) {
	ca := newFedTestCA(t)
	remote := startFakeHomeserver(t, ca)
	store := openKeyStore(t)
	ring, _ := newRing(t, ca, store)
	msg := signedHello(t, remote.key, remote.key.ID)

	if err := verifyOne(ring, remote.name, time.Now(), msg); err != nil {
		t.Fatalf("first verification: %v", err)
	}
	if err := verifyOne(ring, remote.name, time.Now(), msg); err != nil {
		t.Fatalf("second verification: %v", err)
	}
	remote.down.Store(true)
	if err := verifyOne(ring, remote.name, time.Now(), msg); err != nil {
		t.Fatalf("verification with the server down: %v", err)
	}
	if n := remote.hits.Load(); n != 1 {
		t.Fatalf("the key was fetched %d times, want 1", n)
	}
	keys, err := store.ServerKeys(context.Background(), []spec.ServerName{remote.name})
	if err != nil || len(keys) != 1 {
		t.Fatalf("stored keys: %v, %v", keys, err)
	}
	// The notary's copy was kept too, as the server signed it.
	resp, err := store.KeyResponse(context.Background(), remote.name)
	if err != nil || gomatrixserverlib.VerifyJSON(string(remote.name), remote.key.ID, remote.key.Public(), resp.JSON) != nil {
		t.Fatalf("stored response %s: %v", resp.JSON, err)
	}

	// A signature by someone else under the server's key id fails.
	forger := newSigningKey(t, remote.name)
	if err := verifyOne(ring, remote.name, time.Now(), signedHello(t, forger, remote.key.ID)); err == nil {
		t.Fatal("a forged signature verified")
	}
}

// Our own keys are answered from memory: no request, nothing stored, and
// a key id we do not have is simply unknown.
func TestKeyRingOwnKeys(t *testing.T) {
	ca := newFedTestCA(t)
	store := openKeyStore(t)
	ring, local := newRing(t, ca, store)
	if err := verifyOne(ring, local.ServerName, time.Now(), signedHello(t, local, local.ID)); err != nil {
		t.Fatalf("own signature: %v", err)
	}
	start := time.Now()
	if err := verifyOne(ring, local.ServerName, time.Now(), signedHello(t, newSigningKey(t, local.ServerName), "ed25519:other")); err == nil {
		t.Fatal("an unknown key id of our own name verified")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("an unknown own key took %v: it went to the network", d)
	}
	if keys, _ := store.ServerKeys(context.Background(), []spec.ServerName{local.ServerName}); len(keys) != 0 {
		t.Fatalf("own keys were stored: %v", keys)
	}
}

// An expired key stays: it verifies what was signed before it expired,
// and nothing later.
func TestKeyRingExpiredKeys(t *testing.T) {
	ca := newFedTestCA(t)
	store := openKeyStore(t)
	ring, _ := newRing(t, ca, store)
	old := newSigningKey(t, "127.0.0.1:1") // nobody listens there
	expired := time.Now().Add(-time.Hour)
	err := store.StoreServerKeys(context.Background(), map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult{
		{ServerName: old.ServerName, KeyID: old.ID}: {
			VerifyKey: gomatrixserverlib.VerifyKey{Key: spec.Base64Bytes(old.Public())},
			ExpiredTS: spec.AsTimestamp(expired), ValidUntilTS: gomatrixserverlib.PublicKeyNotValid,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := signedHello(t, old, old.ID)
	if err := verifyOne(ring, old.ServerName, expired.Add(-time.Hour), msg); err != nil {
		t.Fatalf("signed before expiry: %v", err)
	}
	if err := verifyOne(ring, old.ServerName, time.Now(), msg); err == nil {
		t.Fatal("signed after expiry, and verified")
	}
}

// A peer that publishes malformed keys gets its signatures refused, not a
// panic (ed25519.Verify panics on a key that is not 32 bytes).
func TestKeyRingMalformedKeysOfAPeer(t *testing.T) {
	ca := newFedTestCA(t)
	remote := startFakeHomeserver(t, ca)
	far := spec.AsTimestamp(time.Now().Add(24 * time.Hour))
	remote.old["ed25519:short"] = map[string]any{"key": "AAAA", "expired_ts": far}
	remote.old["ed25519:bad id!"] = map[string]any{"key": spec.Base64Bytes(remote.key.Public()), "expired_ts": far}
	store := openKeyStore(t)
	ring, _ := newRing(t, ca, store)
	for _, id := range []gomatrixserverlib.KeyID{"ed25519:short", "ed25519:bad id!"} {
		if err := verifyOne(ring, remote.name, time.Now(), signedHello(t, remote.key, id)); err == nil {
			t.Errorf("%s verified", id)
		}
	}
	keys, _ := store.ServerKeys(context.Background(), []spec.ServerName{remote.name})
	if len(keys) != 1 {
		t.Fatalf("stored %v, want only the good key", keys)
	}
}

// A server that cannot be reached is vouched for by a trusted key server,
// and only with that key server's signature.
func TestKeyRingTrustedKeyServer(t *testing.T) {
	ca := newFedTestCA(t)
	remote := startFakeHomeserver(t, ca)
	notaryKey := serveNotary(t, ca)
	// The notary learns the remote's keys while it is up.
	if raws := queryNotary(t, ca, notaryKey.ServerName, remote.name); len(raws) != 1 {
		t.Fatalf("notary answered %d responses", len(raws))
	}
	remote.down.Store(true)
	msg := signedHello(t, remote.key, remote.key.ID)

	trusted := config.TrustedKeyServer{ServerName: notaryKey.ServerName, VerifyKeys: map[string]string{
		string(notaryKey.ID): spec.Base64Bytes(notaryKey.Public()).Encode(),
	}}
	ring, _ := newRing(t, ca, openKeyStore(t), trusted)
	if err := verifyOne(ring, remote.name, time.Now(), msg); err != nil {
		t.Fatalf("through the trusted key server: %v", err)
	}

	wrong := config.TrustedKeyServer{ServerName: notaryKey.ServerName, VerifyKeys: map[string]string{
		string(notaryKey.ID): spec.Base64Bytes(newSigningKey(t, "x").Public()).Encode(),
	}}
	ring, _ = newRing(t, ca, openKeyStore(t), wrong)
	if err := verifyOne(ring, remote.name, time.Now(), msg); err == nil {
		t.Fatal("a notary answer without the trusted key's signature was believed")
	}
}
