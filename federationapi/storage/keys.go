package storage

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Other servers' signing keys. Invariants of federation_server_keys:
//   - rows are never deleted, so old events keep verifying;
//   - a key's valid_until_ts only grows, and an expiry, once known, stays:
//     a stale answer (a notary's cache) cannot shorten or revive a key;
//   - a key id whose bytes change is replaced outright: the server is the
//     authority on its own keys.
// Writers read, merge in Go and then write. Two writers racing on the same
// key can at worst lose the longer validity, which costs one refetch.

// keyQueryChunk bounds the server names of one IN list.
const keyQueryChunk = 200

// ServerKeys returns every stored key of the given servers, current and
// expired, in the key ring's terms.
func (s *Store) ServerKeys(ctx context.Context, servers []spec.ServerName) (map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult, error) {
	out := map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult{}
	for len(servers) > 0 {
		n := min(len(servers), keyQueryChunk)
		if err := s.readServerKeys(ctx, servers[:n], out); err != nil {
			return nil, err
		}
		servers = servers[n:]
	}
	return out, nil
}

func (s *Store) readServerKeys(ctx context.Context, servers []spec.ServerName, out map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult) error {
	args := make([]any, len(servers))
	for i, sn := range servers {
		args[i] = string(sn)
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT server_name, key_id, verify_key, valid_until_ts, expired_ts
		FROM federation_server_keys WHERE server_name IN (`+sqlutil.InList(1, len(args))+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			req   gomatrixserverlib.PublicKeyLookupRequest
			res   gomatrixserverlib.PublicKeyLookupResult
			key   []byte
			valid int64
			exp   int64
		)
		if err := rows.Scan(&req.ServerName, &req.KeyID, &key, &valid, &exp); err != nil {
			return err
		}
		res.Key, res.ValidUntilTS, res.ExpiredTS = key, spec.Timestamp(valid), spec.Timestamp(exp)
		out[req] = res
	}
	return rows.Err()
}

// StoreServerKeys merges keys into the table (see the invariants above).
// Keys that change nothing cost one read and no write, since the key ring
// hands back every key it used after each verification that fetched.
func (s *Store) StoreServerKeys(ctx context.Context, keys map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult) error {
	if len(keys) == 0 {
		return nil
	}
	seen := map[spec.ServerName]bool{}
	var servers []spec.ServerName
	for req := range keys {
		if !seen[req.ServerName] {
			seen[req.ServerName] = true
			servers = append(servers, req.ServerName)
		}
	}
	stored, err := s.ServerKeys(ctx, servers)
	if err != nil {
		return err
	}
	changed := map[gomatrixserverlib.PublicKeyLookupRequest]gomatrixserverlib.PublicKeyLookupResult{}
	for req, res := range keys {
		old, ok := stored[req]
		merged := res
		if ok {
			merged = mergeKey(old, res)
		}
		if !ok || !sameKey(old, merged) {
			changed[req] = merged
		}
	}
	if len(changed) == 0 {
		return nil
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		for req, res := range changed {
			_, err := tx.ExecContext(ctx, `INSERT INTO federation_server_keys (server_name, key_id, verify_key, valid_until_ts, expired_ts)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (server_name, key_id) DO UPDATE SET verify_key = excluded.verify_key,
					valid_until_ts = excluded.valid_until_ts, expired_ts = excluded.expired_ts`,
				string(req.ServerName), string(req.KeyID), []byte(res.Key), int64(res.ValidUntilTS), int64(res.ExpiredTS))
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func mergeKey(old, add gomatrixserverlib.PublicKeyLookupResult) gomatrixserverlib.PublicKeyLookupResult {
	if !bytes.Equal(old.Key, add.Key) {
		return add
	}
	merged := old
	merged.ValidUntilTS = max(old.ValidUntilTS, add.ValidUntilTS)
	if old.ExpiredTS == gomatrixserverlib.PublicKeyNotExpired {
		merged.ExpiredTS = add.ExpiredTS
	}
	return merged
}

func sameKey(a, b gomatrixserverlib.PublicKeyLookupResult) bool {
	return bytes.Equal(a.Key, b.Key) && a.ValidUntilTS == b.ValidUntilTS && a.ExpiredTS == b.ExpiredTS
}

// KeyResponse is a server's answer to /_matrix/key/v2/server, as signed by
// that server.
type KeyResponse struct {
	ServerName spec.ServerName
	JSON       []byte
	ValidUntil spec.Timestamp
	// Fetched is when we received it; a notary refreshes a response after
	// half its lifetime.
	Fetched spec.Timestamp
}

// KeyResponse returns the newest stored response of server, or
// ErrNotFound.
func (s *Store) KeyResponse(ctx context.Context, server spec.ServerName) (KeyResponse, error) {
	r := KeyResponse{ServerName: server}
	var raw string
	var valid, fetched int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT response, valid_until_ts, fetched_ts
		FROM federation_server_key_responses WHERE server_name = $1`, string(server)).Scan(&raw, &valid, &fetched)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.JSON, r.ValidUntil, r.Fetched = []byte(raw), spec.Timestamp(valid), spec.Timestamp(fetched)
	return r, nil
}

// StoreKeyResponse keeps r as the server's newest response unless a
// response fetched later is stored already, and as the response of each
// key it lists (verify_keys and old_verify_keys) on the same terms.
func (s *Store) StoreKeyResponse(ctx context.Context, r KeyResponse) error {
	keyIDs := responseKeyIDs(r.JSON)
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO federation_server_key_responses (server_name, response, valid_until_ts, fetched_ts)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (server_name) DO UPDATE SET response = excluded.response,
				valid_until_ts = excluded.valid_until_ts, fetched_ts = excluded.fetched_ts
			WHERE federation_server_key_responses.fetched_ts <= excluded.fetched_ts`,
			string(r.ServerName), string(r.JSON), int64(r.ValidUntil), int64(r.Fetched))
		if err != nil {
			return err
		}
		for _, id := range keyIDs {
			_, err := tx.ExecContext(ctx, `INSERT INTO federation_server_key_responses_by_key (server_name, key_id, response, valid_until_ts, fetched_ts)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (server_name, key_id) DO UPDATE SET response = excluded.response,
					valid_until_ts = excluded.valid_until_ts, fetched_ts = excluded.fetched_ts
				WHERE federation_server_key_responses_by_key.fetched_ts <= excluded.fetched_ts`,
				string(r.ServerName), id, string(r.JSON), int64(r.ValidUntil), int64(r.Fetched))
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// KeyResponsesFor returns, for each of keyIDs that we know, the newest
// stored response of server that lists it.
func (s *Store) KeyResponsesFor(ctx context.Context, server spec.ServerName, keyIDs []string) (map[string]KeyResponse, error) {
	out := make(map[string]KeyResponse, len(keyIDs))
	if len(keyIDs) == 0 {
		return out, nil
	}
	args := []any{string(server)}
	for _, id := range keyIDs {
		args = append(args, id)
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT key_id, response, valid_until_ts, fetched_ts
		FROM federation_server_key_responses_by_key WHERE server_name = $1 AND key_id IN (`+sqlutil.InList(2, len(keyIDs))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, raw string
		var valid, fetched int64
		if err := rows.Scan(&id, &raw, &valid, &fetched); err != nil {
			return nil, err
		}
		out[id] = KeyResponse{ServerName: server, JSON: []byte(raw), ValidUntil: spec.Timestamp(valid), Fetched: spec.Timestamp(fetched)}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == len(keyIDs) {
		return out, nil
	}
	// Responses stored before the table by key are found in the newest.
	newest, err := s.KeyResponse(ctx, server)
	if errors.Is(err, ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	held := responseKeyIDs(newest.JSON)
	for _, id := range keyIDs {
		if _, ok := out[id]; !ok && slices.Contains(held, id) {
			out[id] = newest
		}
	}
	return out, nil
}

// responseKeyIDs are the key ids a key response lists, current and old.
func responseKeyIDs(raw []byte) []string {
	var ids []string
	for _, field := range []string{"verify_keys", "old_verify_keys"} {
		gjson.GetBytes(raw, field).ForEach(func(k, _ gjson.Result) bool {
			if id := k.String(); id != "" && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
			return true
		})
	}
	return ids
}
