package storage

import (
	"context"
	"database/sql"
	"errors"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// keyChangeLock orders key changes of every userapi replica (PostgreSQL
// advisory lock), so positions commit in order and no reader skips one.
const keyChangeLock = 0x726f6872_6b657973 // "rohrkeys"

// noteKeyChange records a change of user's keys in tx and returns its
// position. deviceID names the device the change is about; "" means the
// cross-signing keys (other servers hear of the two differently).
func (s *Store) noteKeyChange(tx *sql.Tx, userID, deviceID string) (int64, error) {
	return s.noteKeyChangeFor(tx, userID, deviceID, "")
}

// noteKeyChangeFor is noteKeyChange told only to onlyFor when it is set.
func (s *Store) noteKeyChangeFor(tx *sql.Tx, userID, deviceID, onlyFor string) (int64, error) {
	if s.db.Dialect == sqlutil.Postgres {
		if _, err := tx.Exec(`SELECT pg_advisory_xact_lock($1)`, keyChangeLock); err != nil {
			return 0, err
		}
	}
	var pos int64
	if err := tx.QueryRow(`SELECT pos FROM key_change_position WHERE id = 1`).Scan(&pos); err != nil {
		return 0, err
	}
	pos++
	if _, err := tx.Exec(`UPDATE key_change_position SET pos = $1 WHERE id = 1`, pos); err != nil {
		return 0, err
	}
	_, err := tx.Exec(`INSERT INTO key_changes (pos, user_id, only_for, device_id) VALUES ($1, $2, $3, $4)`,
		pos, userID, nullIfEmpty(onlyFor), nullIfEmpty(deviceID))
	return pos, err
}

// KeyUpload is what one /keys/upload stores for a device.
type KeyUpload struct {
	UserID, DeviceID string
	// DeviceKeys is the signed device_keys object, nil to keep the old.
	DeviceKeys []byte
	// OneTimeKeys and FallbackKeys map "algorithm:key_id" to the key.
	OneTimeKeys, FallbackKeys map[string][]byte
}

// UploadKeys stores an upload in one transaction and returns the key
// change position when the device keys are new (0 otherwise). A one-time
// key id already stored keeps its first key.
func (s *Store) UploadKeys(ctx context.Context, u KeyUpload) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if u.DeviceKeys != nil {
			var old string
			err := tx.QueryRow(`SELECT key_json FROM device_keys WHERE user_id = $1 AND device_id = $2`, u.UserID, u.DeviceID).Scan(&old)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.Exec(`INSERT INTO device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3)`,
					u.UserID, u.DeviceID, string(u.DeviceKeys)); err != nil {
					return err
				}
				if pos, err = s.noteKeyChange(tx, u.UserID, u.DeviceID); err != nil {
					return err
				}
			case err != nil:
				return err
			case old != string(u.DeviceKeys):
				// New identity keys for a known device: its client reset
				// its crypto store (decision 0014). The keys are replaced;
				// what belonged to the old ones goes: one-time and
				// fallback keys whose private halves are gone, and
				// signatures of the old device key. Contacts hear of it
				// as of any change.
				if _, err := tx.Exec(`UPDATE device_keys SET key_json = $1 WHERE user_id = $2 AND device_id = $3`,
					string(u.DeviceKeys), u.UserID, u.DeviceID); err != nil {
					return err
				}
				for _, q := range []string{
					`DELETE FROM one_time_keys WHERE user_id = $1 AND device_id = $2`,
					`DELETE FROM fallback_keys WHERE user_id = $1 AND device_id = $2`,
					`DELETE FROM key_signatures WHERE target_user_id = $1 AND target_key_id = $2`,
				} {
					if _, err := tx.Exec(q, u.UserID, u.DeviceID); err != nil {
						return err
					}
				}
				if pos, err = s.noteKeyChange(tx, u.UserID, u.DeviceID); err != nil {
					return err
				}
			}
		}
		if len(u.OneTimeKeys) > 0 {
			// One number per upload, after every earlier upload of the device.
			var seq int64
			if err := tx.QueryRow(`SELECT COALESCE(MAX(upload_seq), 0) + 1 FROM one_time_keys WHERE user_id = $1 AND device_id = $2`,
				u.UserID, u.DeviceID).Scan(&seq); err != nil {
				return err
			}
			for id, key := range u.OneTimeKeys {
				alg, keyID := splitKeyID(id)
				if _, err := tx.Exec(`INSERT INTO one_time_keys (user_id, device_id, algorithm, key_id, key_json, upload_seq) VALUES ($1, $2, $3, $4, $5, $6)
					ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING`, u.UserID, u.DeviceID, alg, keyID, string(key), seq); err != nil {
					return err
				}
			}
		}
		for id, key := range u.FallbackKeys {
			alg, keyID := splitKeyID(id)
			if _, err := tx.Exec(`INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES ($1, $2, $3, $4, $5, FALSE)
				ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id, key_json = excluded.key_json,
				used = CASE WHEN fallback_keys.key_id = excluded.key_id THEN fallback_keys.used ELSE FALSE END`,
				u.UserID, u.DeviceID, alg, keyID, string(key)); err != nil {
				return err
			}
		}
		return nil
	})
	return pos, err
}

func splitKeyID(id string) (algorithm, keyID string) {
	for i := 0; i < len(id); i++ {
		if id[i] == ':' {
			return id[:i], id[i+1:]
		}
	}
	return id, ""
}

// OneTimeKeyCounts counts a device's unclaimed one-time keys by algorithm.
func (s *Store) OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT algorithm, COUNT(*) FROM one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm`, userID, deviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var alg string
		var n int
		if err := rows.Scan(&alg, &n); err != nil {
			return nil, err
		}
		out[alg] = n
	}
	return out, rows.Err()
}

// UnusedFallbackKeyTypes lists the algorithms of a device's fallback keys
// nobody has claimed.
func (s *Store) UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT algorithm FROM fallback_keys WHERE user_id = $1 AND device_id = $2 AND NOT used ORDER BY algorithm`, userID, deviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var alg string
		if err := rows.Scan(&alg); err != nil {
			return nil, err
		}
		out = append(out, alg)
	}
	return out, rows.Err()
}

// DeviceKeys returns the stored device keys of a user, by device; with
// devices empty, all of them.
func (s *Store) DeviceKeys(ctx context.Context, userID string, devices []string) (map[string][]byte, error) {
	q := `SELECT device_id, key_json FROM device_keys WHERE user_id = $1`
	args := []any{userID}
	if len(devices) > 0 {
		q += ` AND device_id IN (` + sqlutil.InList(2, len(devices)) + `)`
		for _, d := range devices {
			args = append(args, d)
		}
	}
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var d, k string
		if err := rows.Scan(&d, &k); err != nil {
			return nil, err
		}
		out[d] = []byte(k)
	}
	return out, rows.Err()
}

// ClaimKey hands out one one-time key of the algorithm for the device,
// from the oldest upload first (MSC4225), deleting it in the same
// transaction so no key goes out twice; or else the fallback key, marked
// used. It returns "" when there is neither.
func (s *Store) ClaimKey(ctx context.Context, userID, deviceID, algorithm string) (keyID string, key []byte, err error) {
	// On PostgreSQL a concurrent claim in another process skips the row
	// this one takes, instead of both aiming at it.
	lock := ""
	if s.db.Dialect == sqlutil.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		var k string
		e := tx.QueryRow(`DELETE FROM one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id =
			(SELECT key_id FROM one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 ORDER BY upload_seq, key_id LIMIT 1`+lock+`)
			RETURNING key_id, key_json`, userID, deviceID, algorithm).Scan(&keyID, &k)
		if e == nil {
			key = []byte(k)
			return nil
		}
		if !errors.Is(e, sql.ErrNoRows) {
			return e
		}
		e = tx.QueryRow(`UPDATE fallback_keys SET used = TRUE WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
			RETURNING key_id, key_json`, userID, deviceID, algorithm).Scan(&keyID, &k)
		if errors.Is(e, sql.ErrNoRows) {
			keyID = ""
			return nil
		}
		key = []byte(k)
		return e
	})
	return keyID, key, err
}

// DeleteDeviceKeys removes deleted devices' keys and records a change of
// each; it returns the last position.
func (s *Store) DeleteDeviceKeys(ctx context.Context, userID string, deviceIDs []string) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		for _, d := range deviceIDs {
			for _, table := range []string{"device_keys", "one_time_keys", "fallback_keys"} {
				if _, err := tx.Exec(`DELETE FROM `+table+` WHERE user_id = $1 AND device_id = $2`, userID, d); err != nil {
					return err
				}
			}
			var err error
			if pos, err = s.noteKeyChange(tx, userID, d); err != nil {
				return err
			}
		}
		return nil
	})
	return pos, err
}

// KeyChangePosition is the newest key change position.
func (s *Store) KeyChangePosition(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT pos FROM key_change_position WHERE id = 1`).Scan(&pos)
	return pos, err
}

// KeyChangesBetween lists the users whose keys changed in (from, to] as
// far as viewer is told: a change meant for one user counts only for
// that user.
func (s *Store) KeyChangesBetween(ctx context.Context, viewer string, from, to int64) ([]string, error) {
	return sqlutil.Strings(s.db.Read.QueryContext(ctx, `SELECT DISTINCT user_id FROM key_changes WHERE pos > $1 AND pos <= $2
		AND (only_for IS NULL OR only_for = $3)`, from, to, viewer))
}

// PutCrossSigningKeys stores a user's cross-signing keys by type (master,
// self_signing, user_signing) and records the change; a change of the
// user-signing key alone concerns only the user.
func (s *Store) PutCrossSigningKeys(ctx context.Context, userID string, keys map[string][]byte) (int64, error) {
	onlyFor := ""
	if _, userSigning := keys["user_signing"]; userSigning && len(keys) == 1 {
		onlyFor = userID
	}
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		for kind, key := range keys {
			if _, err := tx.Exec(`INSERT INTO cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3)
				ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json`, userID, kind, string(key)); err != nil {
				return err
			}
		}
		var err error
		pos, err = s.noteKeyChangeFor(tx, userID, "", onlyFor)
		return err
	})
	return pos, err
}

// CrossSigningKeys returns a user's cross-signing keys by type.
func (s *Store) CrossSigningKeys(ctx context.Context, userID string) (map[string][]byte, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT key_type, key_json FROM cross_signing_keys WHERE user_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var kind, key string
		if err := rows.Scan(&kind, &key); err != nil {
			return nil, err
		}
		out[kind] = []byte(key)
	}
	return out, rows.Err()
}

// KeySignature is a signature of one key by another.
type KeySignature struct {
	SignerUserID, SignerKeyID, TargetUserID, TargetKeyID, Signature string
}

// PutSignatures stores signatures and records a key change of each
// target key (a device of the target user, or else a cross-signing key);
// a signature of another user's key (by the signer's user-signing key) is
// told to the signer alone. It returns the last position per target user.
func (s *Store) PutSignatures(ctx context.Context, sigs []KeySignature) (map[string]int64, error) {
	changed := map[string]int64{}
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		noted := map[[2]string]bool{}
		for _, sig := range sigs {
			if _, err := tx.Exec(`INSERT INTO key_signatures (signer_user_id, signer_key_id, target_user_id, target_key_id, signature)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (signer_user_id, signer_key_id, target_user_id, target_key_id)
				DO UPDATE SET signature = excluded.signature`, sig.SignerUserID, sig.SignerKeyID, sig.TargetUserID, sig.TargetKeyID, sig.Signature); err != nil {
				return err
			}
			onlyFor, deviceID := "", ""
			if sig.TargetUserID != sig.SignerUserID {
				onlyFor = sig.SignerUserID
			} else if isDevice, err := hasDeviceKeys(tx, sig.TargetUserID, sig.TargetKeyID); err != nil {
				return err
			} else if isDevice {
				deviceID = sig.TargetKeyID
			}
			target := [2]string{sig.TargetUserID, deviceID}
			if !noted[target] {
				noted[target] = true
				pos, err := s.noteKeyChangeFor(tx, sig.TargetUserID, deviceID, onlyFor)
				if err != nil {
					return err
				}
				changed[sig.TargetUserID] = pos
			}
		}
		return nil
	})
	return changed, err
}

// NoteDeviceChange records that a device of a user changed (it logged in
// or was renamed).
func (s *Store) NoteDeviceChange(ctx context.Context, userID, deviceID string) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var err error
		pos, err = s.noteKeyChange(tx, userID, deviceID)
		return err
	})
	return pos, err
}

// hasDeviceKeys tells whether keyID is a device of the user with keys
// (rather than one of the user's cross-signing keys).
func hasDeviceKeys(tx *sql.Tx, userID, keyID string) (bool, error) {
	var n int
	err := tx.QueryRow(`SELECT COUNT(*) FROM device_keys WHERE user_id = $1 AND device_id = $2`, userID, keyID).Scan(&n)
	return n > 0, err
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
