package federationapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

// The notary: /_matrix/key/v2/query hands out other servers' key
// responses exactly as those servers signed them, with our signature
// added. Asked for particular keys, it answers with a response that lists
// each of them, even one the server no longer lists (the server may have
// forgotten a key that still verifies old events, and another server's
// question must not make us forget it); asked for none, with the server's
// newest response. A stored response is served while it is valid until
// the asked minimum_valid_until_ts (now, when not asked) and, while still
// valid, younger than half its lifetime (the spec's advice); otherwise we
// ask the server itself. A server we cannot reach gets what we stored, so
// old events stay checkable; one we never reached is left out. Servers
// outside the federation policy are left out and never contacted: the
// endpoint needs no signature, and must not let anyone make us talk to
// them.

const (
	// maxNotaryServers bounds the servers of one query.
	maxNotaryServers = 1000
	// maxNotaryFetches bounds the servers one query may make us contact;
	// the others are answered from the database only.
	maxNotaryFetches = 50
	notaryFetchers   = 8
	notaryTimeout    = 15 * time.Second
)

// Notary serves the key query endpoints.
type Notary struct {
	store   *storage.Store
	client  gomatrixserverlib.KeyClient
	keys    []serverkey.Key
	isLocal func(spec.ServerName) bool
	policy  *Policy
}

// NewNotary builds the notary; keys are our signing keys, with which we
// countersign and answer for our own server names.
func NewNotary(store *storage.Store, client gomatrixserverlib.KeyClient, keys []serverkey.Key, policy *Policy) (*Notary, error) {
	if len(keys) == 0 {
		return nil, errors.New("notary: no signing keys")
	}
	n := &Notary{store: store, client: client, keys: keys, policy: policy}
	n.isLocal = func(s spec.ServerName) bool {
		for _, k := range n.keys {
			if k.ServerName == s {
				return true
			}
		}
		return false
	}
	return n, nil
}

// Routes mounts the key query endpoints.
func (n *Notary) Routes(r *mux.Router) {
	r.Handle("/_matrix/key/v2/query", mxhttp.Handler(n.queryBatch)).Methods(http.MethodPost)
	r.Handle("/_matrix/key/v2/query/{serverName}", mxhttp.Handler(n.queryOne)).Methods(http.MethodGet)
	// The key id in the path is deprecated, but still names the key wanted.
	r.Handle("/_matrix/key/v2/query/{serverName}/{keyId}", mxhttp.Handler(n.queryOne)).Methods(http.MethodGet)
}

// wantedKeys is what a query asks of one server: some of its keys (none:
// its current ones), valid until at least minValid.
type wantedKeys struct {
	keyIDs   []string
	minValid spec.Timestamp
}

type queryCriteria struct {
	MinimumValidUntilTS spec.Timestamp `json:"minimum_valid_until_ts"`
}

type queryResponse struct {
	ServerKeys []json.RawMessage `json:"server_keys"`
}

// queryBatch is POST /_matrix/key/v2/query.
func (n *Notary) queryBatch(r *http.Request) (any, error) {
	var body struct {
		ServerKeys map[spec.ServerName]map[gomatrixserverlib.KeyID]queryCriteria `json:"server_keys"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if body.ServerKeys == nil {
		return nil, mxhttp.BadJSON("server_keys is required")
	}
	if len(body.ServerKeys) > maxNotaryServers {
		return nil, mxhttp.InvalidParam("at most " + strconv.Itoa(maxNotaryServers) + " servers per query")
	}
	now := spec.AsTimestamp(time.Now())
	wanted := make(map[spec.ServerName]wantedKeys, len(body.ServerKeys))
	for server, keys := range body.ServerKeys {
		w := wantedKeys{}
		for id, c := range keys {
			w.keyIDs = append(w.keyIDs, string(id))
			// Not given means now; given, even in the past (an old key
			// for old events), it stands.
			if c.MinimumValidUntilTS == 0 {
				c.MinimumValidUntilTS = now
			}
			w.minValid = max(w.minValid, c.MinimumValidUntilTS)
		}
		if w.minValid == 0 {
			w.minValid = now
		}
		sort.Strings(w.keyIDs)
		wanted[server] = w
	}
	return n.answer(r, wanted), nil
}

// queryOne is GET /_matrix/key/v2/query/{serverName}.
func (n *Notary) queryOne(r *http.Request) (any, error) {
	w := wantedKeys{minValid: spec.AsTimestamp(time.Now())}
	if v := r.URL.Query().Get("minimum_valid_until_ts"); v != "" {
		ts, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return nil, mxhttp.InvalidParam("minimum_valid_until_ts must be a timestamp")
		}
		w.minValid = spec.Timestamp(ts)
	}
	if id := mux.Vars(r)["keyId"]; id != "" {
		w.keyIDs = []string{id}
	}
	return n.answer(r, map[spec.ServerName]wantedKeys{spec.ServerName(mux.Vars(r)["serverName"]): w}), nil
}

// answer collects and countersigns the responses of the wanted servers.
func (n *Notary) answer(r *http.Request, wanted map[spec.ServerName]wantedKeys) queryResponse {
	servers := make([]spec.ServerName, 0, len(wanted))
	for s := range wanted {
		if _, _, ok := spec.ParseAndValidateServerName(s); ok && n.policy.Allowed(s) {
			servers = append(servers, s)
		}
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i] < servers[j] })
	raws := make([][][]byte, len(servers))
	sem := make(chan struct{}, notaryFetchers)
	var wg sync.WaitGroup
	fetches := 0
	for i, s := range servers {
		mayFetch := !n.isLocal(s) && fetches < maxNotaryFetches
		if mayFetch {
			fetches++
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			raws[i] = n.responses(r.Context(), s, wanted[s], mayFetch)
		}()
	}
	wg.Wait()
	signer := n.signer(spec.ServerName(r.Host))
	out := queryResponse{ServerKeys: []json.RawMessage{}}
	for i, responses := range raws {
		for _, raw := range responses {
			signed, err := gomatrixserverlib.SignJSON(string(signer.ServerName), signer.ID, signer.Private, raw)
			if err != nil {
				slog.Warn("notary: countersign", "server", servers[i], "err", err)
				continue
			}
			out.ServerKeys = append(out.ServerKeys, signed)
		}
	}
	return out
}

// signer is our key for the server name a request was addressed to.
func (n *Notary) signer(host spec.ServerName) serverkey.Key {
	for _, k := range n.keys {
		if k.ServerName == host {
			return k
		}
	}
	return n.keys[0]
}

// responses are server's own signed key responses that answer w: one per
// distinct response, none when we have nothing.
func (n *Notary) responses(ctx context.Context, server spec.ServerName, w wantedKeys, mayFetch bool) [][]byte {
	if n.isLocal(server) {
		raw, err := ownKeyResponse(n.keys, server, time.Now())
		if err != nil {
			slog.Warn("notary: own key response", "server", server, "err", err)
			return nil
		}
		return [][]byte{raw}
	}
	stored, err := n.stored(ctx, server, w.keyIDs)
	if err != nil {
		slog.Warn("notary: read key response", "server", server, "err", err)
	}
	now := time.Now()
	if complete(stored, w.keyIDs) && allFresh(stored, w.minValid, now) {
		return distinct(stored)
	}
	if mayFetch {
		if _, err := n.fetch(ctx, server, now); err != nil {
			slog.Info("notary: fetch keys", "server", server, "err", err)
		} else if again, err := n.stored(ctx, server, w.keyIDs); err == nil {
			stored = again
		}
	}
	return distinct(stored)
}

// stored are the stored responses for the keys asked, by key id, and the
// newest one (key "") when none were asked or some asked are not held (the
// spec lets a notary return keys it was not asked for).
func (n *Notary) stored(ctx context.Context, server spec.ServerName, keyIDs []string) (map[string]storage.KeyResponse, error) {
	out, err := n.store.KeyResponsesFor(ctx, server, keyIDs)
	if err != nil {
		return nil, err
	}
	if complete(out, keyIDs) && len(keyIDs) > 0 {
		return out, nil
	}
	newest, err := n.store.KeyResponse(ctx, server)
	if errors.Is(err, storage.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out[""] = newest
	return out, nil
}

// complete tells whether stored answers for every key asked (for the
// server's current keys when none were).
func complete(stored map[string]storage.KeyResponse, keyIDs []string) bool {
	if len(keyIDs) == 0 {
		_, ok := stored[""]
		return ok
	}
	for _, id := range keyIDs {
		if _, ok := stored[id]; !ok {
			return false
		}
	}
	return true
}

func allFresh(stored map[string]storage.KeyResponse, minValid spec.Timestamp, now time.Time) bool {
	for _, r := range stored {
		if !fresh(r, minValid, now) {
			return false
		}
	}
	return true
}

// distinct are the different responses among stored, in a fixed order.
func distinct(stored map[string]storage.KeyResponse) [][]byte {
	ids := make([]string, 0, len(stored))
	for id := range stored {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out [][]byte
	for _, id := range ids {
		raw := stored[id].JSON
		if !slices.ContainsFunc(out, func(o []byte) bool { return bytes.Equal(o, raw) }) {
			out = append(out, raw)
		}
	}
	return out
}

// fresh tells whether a stored response may be served without asking the
// server again.
func fresh(r storage.KeyResponse, minValid spec.Timestamp, now time.Time) bool {
	switch {
	case r.ValidUntil < minValid:
		return false
	case r.ValidUntil <= spec.AsTimestamp(now):
		// Expired, but valid as long as asked: an old key for old events.
		return true
	}
	half := r.Fetched + (r.ValidUntil-r.Fetched)/2
	return spec.AsTimestamp(now) < half
}

// fetch asks server for its keys and keeps the answer, for the notary and
// for the key ring.
func (n *Notary) fetch(ctx context.Context, server spec.ServerName, now time.Time) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, notaryTimeout)
	defer cancel()
	keys, err := n.client.GetServerKeys(ctx, server)
	if err != nil {
		return nil, err
	}
	// An expired response is still the server's word on its keys (the
	// spec: a notary returns an expired key when it has nothing newer), so
	// it is checked as of its own validity rather than refused.
	at := now
	if expiry := keys.ValidUntilTS.Time(); expiry.Before(now) {
		at = expiry.Add(-time.Millisecond)
	}
	if checks, _ := gomatrixserverlib.CheckKeys(server, at, keys); !checks.AllChecksOK {
		return nil, errors.New("the key response failed its checks")
	}
	err = n.store.StoreKeyResponse(ctx, storage.KeyResponse{ServerName: server, JSON: keys.Raw, ValidUntil: keys.ValidUntilTS, Fetched: spec.AsTimestamp(now)})
	if err != nil {
		slog.Warn("notary: store key response", "server", server, "err", err)
	}
	ring := map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult{}
	for id, k := range keys.VerifyKeys {
		ring[gomatrixserverlib.PublicKeyLookupRequest{ServerName: server, KeyID: id}] = gomatrixserverlib.PublicKeyLookupResult{
			VerifyKey: k, ValidUntilTS: keys.ValidUntilTS, ExpiredTS: gomatrixserverlib.PublicKeyNotExpired,
		}
	}
	for id, k := range keys.OldVerifyKeys {
		ring[gomatrixserverlib.PublicKeyLookupRequest{ServerName: server, KeyID: id}] = gomatrixserverlib.PublicKeyLookupResult{
			VerifyKey: k.VerifyKey, ValidUntilTS: gomatrixserverlib.PublicKeyNotValid, ExpiredTS: k.ExpiredTS,
		}
	}
	db := keyDatabase{store: n.store, isLocal: n.isLocal}
	_ = db.StoreKeys(ctx, ring)
	return keys.Raw, nil
}

// ownKeyResponse is our /_matrix/key/v2/server answer for name: its
// current keys, no old ones yet (old_verify_keys present, as clients of
// the spec expect), signed with each of them.
func ownKeyResponse(keys []serverkey.Key, name spec.ServerName, now time.Time) (json.RawMessage, error) {
	current := map[gomatrixserverlib.KeyID]verifyKey{}
	for _, k := range keys {
		if k.ServerName == name {
			current[k.ID] = verifyKey{Key: spec.Base64Bytes(k.Public())}
		}
	}
	raw, err := json.Marshal(map[string]any{
		"server_name":     name,
		"valid_until_ts":  spec.AsTimestamp(now.Add(keyValidity)),
		"verify_keys":     current,
		"old_verify_keys": map[string]any{},
	})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.ServerName == name {
			if raw, err = gomatrixserverlib.SignJSON(string(name), k.ID, k.Private, raw); err != nil {
				return nil, err
			}
		}
	}
	return raw, nil
}

// VersionRoutes mounts GET /_matrix/federation/v1/version, which needs no
// signature.
func VersionRoutes(r *mux.Router) {
	r.Handle("/_matrix/federation/v1/version", mxhttp.Handler(func(*http.Request) (any, error) {
		return map[string]any{"server": map[string]string{"name": "rohrpost", "version": buildVersion()}}, nil
	})).Methods(http.MethodGet)
}

func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "git-" + s.Value[:12]
		}
	}
	return "dev"
}
