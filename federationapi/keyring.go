package federationapi

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

// The key ring verifies signatures of other servers: keys come from the
// database first, then from the server itself, then from each trusted key
// server in turn. gomatrixserverlib decides when a stored key needs
// refreshing and whether it was valid when something was signed; we keep
// the keys (and the signed key responses the notary passes on) and keep
// two kinds of keys away from it:
//   - our own: they are answered from memory, never fetched or stored, and
//     a key id we do not have is unknown, not something to ask around for;
//   - keys that are not 32 bytes: ed25519.Verify panics on them, and
//     old_verify_keys are not length-checked by the library, so one bad
//     peer could otherwise turn every request it signs into a 500; and
//     key ids the spec does not allow, which a database may refuse.

// NewKeyRing builds the key ring. local are our own signing keys.
func NewKeyRing(store *storage.Store, client fclient.FederationClient, trusted []config.TrustedKeyServer,
	isLocal func(spec.ServerName) bool, local []serverkey.Key) *gomatrixserverlib.KeyRing {
	direct := &gomatrixserverlib.DirectKeyFetcher{
		Client:            &recordingKeyClient{KeyClient: client, store: store},
		IsLocalServerName: isLocal,
	}
	fetchers := []gomatrixserverlib.KeyFetcher{remoteKeys{isLocal: isLocal, fetcher: direct}}
	for _, ts := range trusted {
		keys, err := ts.PublicKeys()
		if err != nil {
			// config.Validate refused this already.
			continue
		}
		fetchers = append(fetchers, remoteKeys{isLocal: isLocal, fetcher: &gomatrixserverlib.PerspectiveKeyFetcher{
			PerspectiveServerName: ts.ServerName,
			PerspectiveServerKeys: keys,
			Client:                client,
		}})
	}
	db := &keyDatabase{store: store, isLocal: isLocal, local: map[gomatrixserverlib.PublicKeyLookupRequest]ed25519.PublicKey{},
		cached: map[spec.ServerName]cachedKeys{}}
	for _, k := range local {
		db.local[gomatrixserverlib.PublicKeyLookupRequest{ServerName: k.ServerName, KeyID: k.ID}] = k.Public()
	}
	return &gomatrixserverlib.KeyRing{KeyFetchers: fetchers, KeyDatabase: db}
}

// ownKeyValidity is the validity our own keys are given in the ring: far
// enough that it never asks for them again.
var ownKeyValidity = spec.AsTimestamp(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))

// keyDatabase is the ring's KeyDatabase over storage.Store.
type keyDatabase struct {
	store   *storage.Store
	isLocal func(spec.ServerName) bool
	local   map[gomatrixserverlib.PublicKeyLookupRequest]ed25519.PublicKey

	// cached spares every inbound request a query: a peer's keys change
	// rarely. An entry lives keyCacheFor, so that keys another replica
	// stored are seen soon; our own StoreKeys replaces it at once.
	mu     sync.Mutex
	cached map[spec.ServerName]cachedKeys
}

const keyCacheFor = 5 * time.Minute

type cachedKeys struct {
	keys   map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult
	loaded time.Time
}

// serverKeys returns the stored keys of servers, from memory when fresh.
func (d *keyDatabase) serverKeys(ctx context.Context, servers []spec.ServerName) (map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult, error) {
	out := map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult{}
	var missing []spec.ServerName
	d.mu.Lock()
	for _, name := range servers {
		c, ok := d.cached[name]
		if !ok || time.Since(c.loaded) > keyCacheFor {
			missing = append(missing, name)
			continue
		}
		for req, res := range c.keys {
			out[req] = res
		}
	}
	d.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	stored, err := d.store.ServerKeys(ctx, missing)
	if err != nil {
		return nil, err
	}
	fresh := map[spec.ServerName]cachedKeys{}
	for _, name := range missing {
		fresh[name] = cachedKeys{keys: map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult{}, loaded: time.Now()}
	}
	for req, res := range stored {
		out[req] = res
		if c, ok := fresh[req.ServerName]; ok {
			c.keys[req] = res
		}
	}
	d.mu.Lock()
	for name, c := range fresh {
		d.cached[name] = c
	}
	d.mu.Unlock()
	return out, nil
}

var _ gomatrixserverlib.KeyDatabase = (*keyDatabase)(nil)

func (d *keyDatabase) FetcherName() string { return "database" }

// FetchKeys returns what we have of the requested keys, expired ones
// included.
func (d *keyDatabase) FetchKeys(ctx context.Context, requests map[gomatrixserverlib.PublicKeyLookupRequest]spec.Timestamp) (map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult, error) {
	out := map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult{}
	var servers []spec.ServerName
	seen := map[spec.ServerName]bool{}
	for req := range requests {
		if d.isLocal(req.ServerName) {
			if key, ok := d.local[req]; ok {
				out[req] = gomatrixserverlib.PublicKeyLookupResult{
					VerifyKey:    gomatrixserverlib.VerifyKey{Key: spec.Base64Bytes(key)},
					ExpiredTS:    gomatrixserverlib.PublicKeyNotExpired,
					ValidUntilTS: ownKeyValidity,
				}
			}
			continue
		}
		if !seen[req.ServerName] {
			seen[req.ServerName] = true
			servers = append(servers, req.ServerName)
		}
	}
	if len(servers) == 0 {
		return out, nil
	}
	stored, err := d.serverKeys(ctx, servers)
	if err != nil {
		return nil, err
	}
	for req, res := range stored {
		if _, wanted := requests[req]; wanted && len(res.Key) == ed25519.PublicKeySize {
			out[req] = res
		}
	}
	return out, nil
}

// StoreKeys keeps the keys of other servers. It never fails: the ring
// calls it after verifying, and a cache that could not be written must not
// turn a verified request into an error.
func (d *keyDatabase) StoreKeys(ctx context.Context, results map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult) error {
	keep := make(map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult, len(results))
	for req, res := range results {
		if !d.isLocal(req.ServerName) && wellFormed(req, res) {
			keep[req] = res
		}
	}
	if err := d.store.StoreServerKeys(ctx, keep); err != nil {
		slog.Warn("store server keys", "err", err)
	}
	d.mu.Lock()
	for req := range keep {
		delete(d.cached, req.ServerName)
	}
	d.mu.Unlock()
	return nil
}

var keyIDRE = regexp.MustCompile(`^ed25519:[A-Za-z0-9_]+$`)

// wellFormed tells whether a key can be used and stored: an ed25519 key of
// 32 bytes under a key id the spec allows.
func wellFormed(req gomatrixserverlib.PublicKeyLookupRequest, res gomatrixserverlib.PublicKeyLookupResult) bool {
	return len(res.Key) == ed25519.PublicKeySize && keyIDRE.MatchString(string(req.KeyID))
}

// remoteKeys passes only other servers' keys through to a fetcher, and
// only well-formed keys back.
type remoteKeys struct {
	isLocal func(spec.ServerName) bool
	fetcher gomatrixserverlib.KeyFetcher
}

func (f remoteKeys) FetcherName() string { return f.fetcher.FetcherName() }

func (f remoteKeys) FetchKeys(ctx context.Context, requests map[gomatrixserverlib.PublicKeyLookupRequest]spec.Timestamp) (map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult, error) {
	remote := make(map[gomatrixserverlib.PublicKeyLookupRequest]spec.Timestamp, len(requests))
	for req, ts := range requests {
		if !f.isLocal(req.ServerName) {
			remote[req] = ts
		}
	}
	if len(remote) == 0 {
		return nil, nil
	}
	fetched, err := f.fetcher.FetchKeys(ctx, remote)
	if err != nil {
		return nil, err
	}
	for req, res := range fetched {
		if f.isLocal(req.ServerName) || !wellFormed(req, res) {
			slog.Warn("dropping a malformed or foreign key", "fetcher", f.fetcher.FetcherName(), "server", req.ServerName, "key_id", req.KeyID)
			delete(fetched, req)
		}
	}
	return fetched, nil
}

// recordingKeyClient keeps each server's own signed key response, fetched
// over TLS from that server, for the notary. Answers of notaries are not
// kept: their origin signature proves nothing without the notary's, and
// the notary serves only what a server said itself.
type recordingKeyClient struct {
	gomatrixserverlib.KeyClient
	store *storage.Store
}

func (c *recordingKeyClient) GetServerKeys(ctx context.Context, server spec.ServerName) (gomatrixserverlib.ServerKeys, error) {
	keys, err := c.KeyClient.GetServerKeys(ctx, server)
	if err == nil {
		recordKeyResponse(ctx, c.store, server, keys)
	}
	return keys, err
}

func (c *recordingKeyClient) LookupServerKeys(ctx context.Context, from spec.ServerName, requests map[gomatrixserverlib.PublicKeyLookupRequest]spec.Timestamp) ([]gomatrixserverlib.ServerKeys, error) {
	all, err := c.KeyClient.LookupServerKeys(ctx, from, requests)
	if err == nil {
		// The direct fetcher's fallback asks a server's own notary
		// endpoint about that server: that answer is as good as /server.
		for _, keys := range all {
			if keys.ServerName == from {
				recordKeyResponse(ctx, c.store, from, keys)
			}
		}
	}
	return all, err
}

// recordKeyResponse stores keys if they are a valid, self-signed answer
// for server. A failure costs the notary a refetch and nothing else.
func recordKeyResponse(ctx context.Context, store *storage.Store, server spec.ServerName, keys gomatrixserverlib.ServerKeys) {
	now := time.Now()
	if checks, _ := gomatrixserverlib.CheckKeys(server, now, keys); !checks.AllChecksOK {
		return
	}
	err := store.StoreKeyResponse(ctx, storage.KeyResponse{
		ServerName: server, JSON: keys.Raw, ValidUntil: keys.ValidUntilTS, Fetched: spec.AsTimestamp(now),
	})
	if err != nil {
		slog.Warn("store key response", "server", server, "err", err)
	}
}
