package storage

import (
	"context"
	"database/sql"
	"errors"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// What other servers learn of local users' devices: the key change stream
// read from the federation sender's place on, and the device list as
// /user/devices serves it (docs/decisions/0012).

// KeyChange is one row of key_changes.
type KeyChange struct {
	Pos    int64
	UserID string
	// DeviceID is the device the change is about; "" for the user's
	// cross-signing keys.
	DeviceID string
	// OnlyFor is set for a change only one user is told of.
	OnlyFor string
}

// KeyChangesAfter returns the key changes after pos, oldest first, at
// most limit.
func (s *Store) KeyChangesAfter(ctx context.Context, pos int64, limit int) ([]KeyChange, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT pos, user_id, COALESCE(device_id, ''), COALESCE(only_for, '')
		FROM key_changes WHERE pos > $1 ORDER BY pos LIMIT $2`, pos, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []KeyChange
	for rows.Next() {
		var c KeyChange
		if err := rows.Scan(&c.Pos, &c.UserID, &c.DeviceID, &c.OnlyFor); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeviceListOutboxPos is how far the federation sender has gone.
func (s *Store) DeviceListOutboxPos(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT pos FROM device_list_outbox WHERE id = 1`).Scan(&pos)
	return pos, err
}

// AdvanceDeviceListOutbox moves the sender's place from from to to; it
// reports false when the place is no longer from (another process moved
// it), and never moves it backwards.
func (s *Store) AdvanceDeviceListOutbox(ctx context.Context, from, to int64) (bool, error) {
	var moved bool
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE device_list_outbox SET pos = $1 WHERE id = 1 AND pos = $2 AND $1 > $2`, to, from)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		moved = n > 0
		return err
	})
	return moved, err
}

// DeviceStreamID is the position of the user's newest device change
// before (not including) pos, 0 if there is none; with pos 0, the newest
// of all. It is the stream_id of /user/devices and the prev_id of
// m.device_list_update.
func (s *Store) DeviceStreamID(ctx context.Context, userID string, before int64) (int64, error) {
	q := `SELECT COALESCE(MAX(pos), 0) FROM key_changes WHERE user_id = $1 AND device_id IS NOT NULL AND only_for IS NULL`
	args := []any{userID}
	if before > 0 {
		q += ` AND pos < $2`
		args = append(args, before)
	}
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, q, args...).Scan(&pos)
	return pos, err
}

// FederatedDevice is a local device as other servers see it.
type FederatedDevice struct {
	DeviceID    string
	DisplayName *string
	// Keys is the device_keys object, nil when the device has none.
	Keys []byte
}

// FederatedDevices returns the user's devices with their keys (all of
// them when devices is empty); a device id missing from the answer does
// not exist.
func (s *Store) FederatedDevices(ctx context.Context, userID string, devices ...string) (map[string]FederatedDevice, error) {
	q := `SELECT d.device_id, d.display_name, k.key_json FROM devices d
		LEFT JOIN device_keys k ON k.user_id = d.user_id AND k.device_id = d.device_id WHERE d.user_id = $1`
	args := []any{userID}
	if len(devices) > 0 {
		q += ` AND d.device_id IN (` + sqlutil.InList(2, len(devices)) + `)`
		for _, d := range devices {
			args = append(args, d)
		}
	}
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]FederatedDevice{}
	for rows.Next() {
		var (
			d    FederatedDevice
			name sql.NullString
			keys sql.NullString
		)
		if err := rows.Scan(&d.DeviceID, &name, &keys); err != nil {
			return nil, err
		}
		if name.Valid {
			d.DisplayName = &name.String
		}
		if keys.Valid {
			d.Keys = []byte(keys.String)
		}
		out[d.DeviceID] = d
	}
	return out, rows.Err()
}

// AccountExists tells whether a user has an account (deactivated ones
// included: their devices are gone, their list is empty).
func (s *Store) AccountExists(ctx context.Context, userID string) (bool, error) {
	var one int
	err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE user_id = $1`, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
