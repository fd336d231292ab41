package storage

import (
	"context"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// queryChunk bounds the users named in one statement.
const queryChunk = 500

// QueriedKeys is what /keys/query shows of a set of users, by user id.
type QueriedKeys struct {
	// DeviceKeys is device id → key JSON.
	DeviceKeys map[string]map[string][]byte
	// DeviceNames is device id → display name, for named devices.
	DeviceNames map[string]map[string]string
	// CrossSigningKeys is key type → key JSON.
	CrossSigningKeys map[string]map[string][]byte
	// Signatures is signed key id → the signatures uploaded for it.
	Signatures map[string]map[string][]KeySignature
}

// KeysForQuery reads the keys of users with four statements per few
// hundred users, however many devices they have: a client asks for the
// keys of every member of a room it encrypts for.
func (s *Store) KeysForQuery(ctx context.Context, users []string) (*QueriedKeys, error) {
	out := &QueriedKeys{DeviceKeys: map[string]map[string][]byte{}, DeviceNames: map[string]map[string]string{},
		CrossSigningKeys: map[string]map[string][]byte{}, Signatures: map[string]map[string][]KeySignature{}}
	for start := 0; start < len(users); start += queryChunk {
		chunk := users[start:min(start+queryChunk, len(users))]
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		in := sqlutil.InList(1, len(chunk))
		if err := s.eachRow(ctx, `SELECT user_id, device_id, key_json FROM device_keys WHERE user_id IN (`+in+`)`, args,
			func(user, device, key string) { put(out.DeviceKeys, user, device, []byte(key)) }); err != nil {
			return nil, err
		}
		if err := s.eachRow(ctx, `SELECT user_id, device_id, display_name FROM devices WHERE user_id IN (`+in+`) AND display_name IS NOT NULL`, args,
			func(user, device, name string) { put(out.DeviceNames, user, device, name) }); err != nil {
			return nil, err
		}
		if err := s.eachRow(ctx, `SELECT user_id, key_type, key_json FROM cross_signing_keys WHERE user_id IN (`+in+`)`, args,
			func(user, kind, key string) { put(out.CrossSigningKeys, user, kind, []byte(key)) }); err != nil {
			return nil, err
		}
		if err := s.signaturesOf(ctx, in, args, out.Signatures); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// signaturesOf adds the signatures uploaded for the keys of the users
// (the IN list in and its args) to out, by user and signed key id.
func (s *Store) signaturesOf(ctx context.Context, in string, args []any, out map[string]map[string][]KeySignature) error {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature
		FROM key_signatures WHERE target_user_id IN (`+in+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var sig KeySignature
		if err := rows.Scan(&sig.TargetUserID, &sig.TargetKeyID, &sig.SignerUserID, &sig.SignerKeyID, &sig.Signature); err != nil {
			return err
		}
		byKey := out[sig.TargetUserID]
		if byKey == nil {
			byKey = map[string][]KeySignature{}
			out[sig.TargetUserID] = byKey
		}
		byKey[sig.TargetKeyID] = append(byKey[sig.TargetKeyID], sig)
	}
	return rows.Err()
}

// eachRow calls fn with the three text columns of each row.
func (s *Store) eachRow(ctx context.Context, q string, args []any, fn func(a, b, c string)) error {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a, b, c string
		if err := rows.Scan(&a, &b, &c); err != nil {
			return err
		}
		fn(a, b, c)
	}
	return rows.Err()
}

func put[V any](m map[string]map[string]V, outer, inner string, v V) {
	if m[outer] == nil {
		m[outer] = map[string]V{}
	}
	m[outer][inner] = v
}
