package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/userapi"
)

// /keys/query and /keys/claim for users of other servers
// (docs/decisions/0012). A query is answered from the device list cache
// for users whose list is cached and still trusted; the others are asked
// of their servers (/user/keys/query), all servers at once, within the
// client's timeout. A server that does not answer, or that the policy
// refuses, is named in failures, as the spec says; its users are missing
// from the answer. Claims always go to the users' servers.

const (
	// defaultKeysTimeout is /keys/query's and /keys/claim's default.
	defaultKeysTimeout = 10 * time.Second
	maxKeysTimeout     = time.Minute
)

// RemoteKeysRequest is the remote users' part of POST /keys/query.
type RemoteKeysRequest struct {
	Requester spec.UserID
	// DeviceKeys holds, by user of another server, the devices asked for
	// (an empty list: all).
	DeviceKeys map[string][]string
	// TimeoutMS bounds the wait for other servers; 0 means 10 seconds.
	TimeoutMS int64
}

// RemoteKeysResponse is what other servers' users add to /keys/query.
type RemoteKeysResponse struct {
	DeviceKeys      map[string]map[string]json.RawMessage
	MasterKeys      map[string]json.RawMessage
	SelfSigningKeys map[string]json.RawMessage
	// Failures holds, by server name, why the server's users are missing.
	Failures map[string]KeysFailure
}

// KeysFailure is an entry of /keys/query's and /keys/claim's failures
// (the shape Synapse gives it: the status a server answered or that
// stands for its silence, and a message).
type KeysFailure struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// RemoteClaimRequest is the remote users' part of POST /keys/claim.
type RemoteClaimRequest struct {
	Requester spec.UserID
	// OneTimeKeys holds, by user and device, the algorithm to claim.
	OneTimeKeys map[string]map[string]string
	TimeoutMS   int64
}

// RemoteClaimResponse is what other servers' users add to /keys/claim.
type RemoteClaimResponse struct {
	OneTimeKeys map[string]map[string]map[string]json.RawMessage
	Failures    map[string]KeysFailure
}

func failure(status int, msg string) KeysFailure {
	return KeysFailure{Status: status, Message: msg}
}

// failureOf turns a request's error into a failures entry.
func failureOf(err error) KeysFailure {
	var he gomatrix.HTTPError
	if errors.As(err, &he) {
		return failure(he.Code, "the server answered "+http.StatusText(he.Code))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return failure(http.StatusGatewayTimeout, "the server did not answer in time")
	}
	return failure(http.StatusServiceUnavailable, "the server could not be reached")
}

func keysTimeout(ms int64) time.Duration {
	if ms <= 0 {
		return defaultKeysTimeout
	}
	return min(time.Duration(ms)*time.Millisecond, maxKeysTimeout)
}

// byServer groups users of other servers by server; ids that do not parse
// and local users are left out.
func byServer[V any](s *Server, users map[string]V) map[spec.ServerName]map[string]V {
	out := map[spec.ServerName]map[string]V{}
	for id, v := range users {
		u, err := spec.NewUserID(id, true)
		if err != nil || s.isLocal(u.Domain()) {
			continue
		}
		if out[u.Domain()] == nil {
			out[u.Domain()] = map[string]V{}
		}
		out[u.Domain()][id] = v
	}
	return out
}

// QueryRemoteKeys answers /keys/query for users of other servers.
func (s *Server) QueryRemoteKeys(ctx context.Context, req RemoteKeysRequest) (*RemoteKeysResponse, error) {
	res := &RemoteKeysResponse{Failures: map[string]KeysFailure{}}
	servers := byServer(s, req.DeviceKeys)
	users := make([]string, 0, len(req.DeviceKeys))
	for name, of := range servers {
		if !s.policy.Allowed(name) {
			res.Failures[string(name)] = failure(http.StatusForbidden, "federation with this server is not allowed")
			delete(servers, name)
			continue
		}
		for u := range of {
			users = append(users, u)
		}
	}
	trusted, resync := s.trustedLists(ctx, users)
	// A user we share a room with but hold no list of is fetched whole
	// now (/user/devices) and tracked from then on, as other servers
	// expect; only when that fails is their server asked for the keys
	// alone, and the list fetched later.
	resync = s.resyncNow(ctx, keysTimeout(req.TimeoutMS), resync, trusted)
	cached := map[string][]string{}
	for name, of := range servers {
		for u, devices := range of {
			if trusted[u] {
				cached[u] = devices
				delete(of, u)
			}
		}
		if len(of) == 0 {
			delete(servers, name)
		}
	}
	fetched := &userapi.QueryKeysResponse{DeviceKeys: map[string]map[string]json.RawMessage{},
		MasterKeys: map[string]json.RawMessage{}, SelfSigningKeys: map[string]json.RawMessage{}}
	var mu sync.Mutex
	eachServer(s, ctx, keysTimeout(req.TimeoutMS), servers, func(ctx context.Context, name spec.ServerName, of map[string][]string) {
		got, err := s.fetchKeys(ctx, req.Requester.Domain(), name, of)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			slog.Info("federation: keys query failed", "server", name, "err", err)
			res.Failures[string(name)] = failureOf(err)
			return
		}
		for u, d := range got.DeviceKeys {
			fetched.DeviceKeys[u] = d
		}
		for u, k := range got.MasterKeys {
			fetched.MasterKeys[u] = k
		}
		for u, k := range got.SelfSigningKeys {
			fetched.SelfSigningKeys[u] = k
		}
	})
	// Tracking starts, or starts over, for users a local user shares a
	// room with; the next query is answered from the cache.
	for _, u := range resync {
		s.e2ee.resync.schedule(u, false)
	}
	all, err := s.users.RemoteQueryKeys(ctx, req.Requester, cached, fetched)
	if err != nil {
		return nil, err
	}
	res.DeviceKeys, res.MasterKeys, res.SelfSigningKeys = all.DeviceKeys, all.MasterKeys, all.SelfSigningKeys
	return res, nil
}

// trustedLists tells which users' cached lists may answer a query: cached,
// and shared a room with a local user without a pause since the snapshot
// was taken (else their server may have stopped telling us of changes).
// It drops the lists it cannot trust and returns the users whose lists
// should be fetched anew: those who share a room with a local user.
func (s *Server) trustedLists(ctx context.Context, users []string) (map[string]bool, []spec.UserID) {
	trusted := map[string]bool{}
	if len(users) == 0 {
		return trusted, nil
	}
	shared, err := s.rooms.SharedWithLocalSince(ctx, users)
	if err != nil {
		slog.Warn("federation: shared rooms for keys query", "err", err)
		return trusted, nil
	}
	heads, err := s.users.RemoteDeviceListHeads(ctx, users)
	if err != nil {
		slog.Warn("federation: cached device lists", "err", err)
		return trusted, nil
	}
	var resync []spec.UserID
	for _, id := range users {
		since, sharing := shared.Since[id]
		head, cached := heads[id]
		if cached && sharing && head.RoomPos >= since {
			trusted[id] = true
			continue
		}
		u, err := spec.NewUserID(id, true)
		if err != nil {
			continue
		}
		if cached {
			if err := s.users.ForgetRemoteDeviceList(ctx, *u); err != nil {
				slog.Warn("federation: drop device list", "user", id, "err", err)
			}
		}
		if sharing {
			resync = append(resync, *u)
		}
	}
	return trusted, resync
}

// eachServer runs fn for every server at once and waits for all, each
// with the timeout.
func eachServer[V any](s *Server, ctx context.Context, timeout time.Duration, servers map[spec.ServerName]V, fn func(context.Context, spec.ServerName, V)) {
	var wg sync.WaitGroup
	for name, v := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			fn(ctx, name, v)
		}()
	}
	wg.Wait()
}

// keysAnswer is /user/keys/query's answer, keys kept as their server
// signed them (decoding into typed structs would drop fields the
// signatures cover).
type keysAnswer struct {
	DeviceKeys      map[string]map[string]json.RawMessage `json:"device_keys"`
	MasterKeys      map[string]json.RawMessage            `json:"master_keys"`
	SelfSigningKeys map[string]json.RawMessage            `json:"self_signing_keys"`
}

// fetchKeys asks a server for its users' keys and keeps only what was
// asked about and is what it claims to be.
func (s *Server) fetchKeys(ctx context.Context, origin, dest spec.ServerName, users map[string][]string) (*keysAnswer, error) {
	body := map[string]map[string][]string{"device_keys": {}}
	for u, d := range users {
		if d == nil {
			d = []string{}
		}
		body["device_keys"][u] = d
	}
	var got keysAnswer
	if err := s.signedRequest(ctx, http.MethodPost, origin, dest, "/_matrix/federation/v1/user/keys/query", body, &got); err != nil {
		return nil, err
	}
	out := &keysAnswer{DeviceKeys: map[string]map[string]json.RawMessage{}, MasterKeys: map[string]json.RawMessage{},
		SelfSigningKeys: map[string]json.RawMessage{}}
	for id, devices := range users {
		user, err := spec.NewUserID(id, true)
		if err != nil {
			continue
		}
		wanted := map[string]bool{}
		for _, d := range devices {
			wanted[d] = true
		}
		keep := map[string]json.RawMessage{}
		for d, k := range got.DeviceKeys[id] {
			if (len(wanted) == 0 || wanted[d]) && checkDeviceKeys(*user, d, k) == nil {
				keep[d] = k
			}
		}
		if _, ok := got.DeviceKeys[id]; ok {
			out.DeviceKeys[id] = keep
		}
		if k, ok := got.MasterKeys[id]; ok && checkCrossSigningKey(*user, "master", k) == nil {
			out.MasterKeys[id] = k
		}
		if k, ok := got.SelfSigningKeys[id]; ok && checkCrossSigningKey(*user, "self_signing", k) == nil {
			out.SelfSigningKeys[id] = k
		}
	}
	return out, nil
}

// ClaimRemoteKeys answers /keys/claim for users of other servers.
func (s *Server) ClaimRemoteKeys(ctx context.Context, req RemoteClaimRequest) (*RemoteClaimResponse, error) {
	res := &RemoteClaimResponse{OneTimeKeys: map[string]map[string]map[string]json.RawMessage{}, Failures: map[string]KeysFailure{}}
	servers := byServer(s, req.OneTimeKeys)
	for name := range servers {
		if !s.policy.Allowed(name) {
			res.Failures[string(name)] = failure(http.StatusForbidden, "federation with this server is not allowed")
			delete(servers, name)
		}
	}
	var mu sync.Mutex
	eachServer(s, ctx, keysTimeout(req.TimeoutMS), servers, func(ctx context.Context, name spec.ServerName, claims map[string]map[string]string) {
		var got struct {
			OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
		}
		err := s.signedRequest(ctx, http.MethodPost, req.Requester.Domain(), name, "/_matrix/federation/v1/user/keys/claim",
			map[string]any{"one_time_keys": claims}, &got)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			slog.Info("federation: keys claim failed", "server", name, "err", err)
			res.Failures[string(name)] = failureOf(err)
			return
		}
		for user, devices := range claims {
			for device := range devices {
				if keys, ok := got.OneTimeKeys[user][device]; ok && len(keys) <= 1 && keyObjects(keys) {
					if res.OneTimeKeys[user] == nil {
						res.OneTimeKeys[user] = map[string]map[string]json.RawMessage{}
					}
					res.OneTimeKeys[user][device] = keys
				}
			}
		}
	})
	return res, nil
}

// signedRequest makes a signed request as origin (a local server name;
// the default one otherwise) and decodes the answer into out.
func (s *Server) signedRequest(ctx context.Context, method string, origin, dest spec.ServerName, path string, body, out any) error {
	key, ok := s.keyFor(origin)
	if !ok {
		key, _ = s.keyFor(s.cfg.ServerName)
	}
	req := fclient.NewFederationRequest(method, key.ServerName, dest, path)
	if body != nil {
		if err := req.SetContent(body); err != nil {
			return err
		}
	}
	if err := req.Sign(key.ServerName, key.ID, key.Private); err != nil {
		return err
	}
	httpReq, err := req.HTTPRequest()
	if err != nil {
		return err
	}
	if err := s.client.DoRequestAndParseResponse(ctx, httpReq, out); err != nil {
		return fmt.Errorf("%s %s at %s: %w", method, path, dest, err)
	}
	return nil
}

// keyObjects tells whether each value of a claimed key map is a key
// object or string, as the spec allows.
func keyObjects(keys map[string]json.RawMessage) bool {
	for _, k := range keys {
		if r := gjson.ParseBytes(k); !r.IsObject() && r.Type != gjson.String {
			return false
		}
	}
	return true
}

// resyncNow fetches the device lists of users in parallel within timeout,
// marks those it cached as trusted, and returns the others.
func (s *Server) resyncNow(ctx context.Context, timeout time.Duration, users []spec.UserID, trusted map[string]bool) []spec.UserID {
	if len(users) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok := make([]bool, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[i] = s.e2ee.resync.fetchNow(ctx, u) == nil
		}()
	}
	wg.Wait()
	var failed []spec.UserID
	for i, u := range users {
		if ok[i] {
			trusted[u.String()] = true
		} else {
			failed = append(failed, u)
		}
	}
	return failed
}
