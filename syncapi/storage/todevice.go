package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// ToDevice is one message in a device's inbox.
type ToDevice struct {
	Pos              int64
	UserID, DeviceID string
	Sender, Type     string
	Content          json.RawMessage
}

// toDeviceLock is the PostgreSQL advisory lock that orders to-device
// writes of every sync replica: a position is allocated only after the
// previous one committed, so a reader never sees a later message before
// an earlier one (and acknowledges it unseen).
const toDeviceLock = 0x726f6872_746f6476 // "rohrtodv"

// PutToDevice stores messages sent by a device in one transaction and
// returns the position of the last; with a transaction id the sender used
// before, it stores nothing and returns dup.
func (s *Store) PutToDevice(ctx context.Context, txn ToDeviceTxn, msgs []ToDevice) (pos int64, dup bool, err error) {
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if s.db.Dialect == sqlutil.Postgres {
			if _, err := tx.Exec(`SELECT pg_advisory_xact_lock($1)`, toDeviceLock); err != nil {
				return err
			}
		}
		if txn.TxnID != "" {
			res, err := tx.Exec(`INSERT INTO send_to_device_txns (user_id, device_id, event_type, txn_id, created_ts) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (user_id, device_id, event_type, txn_id) DO NOTHING`, txn.UserID, txn.DeviceID, txn.EventType, txn.TxnID, time.Now().UnixMilli())
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				dup = true
				return nil
			}
		}
		if err := tx.QueryRow(`SELECT pos FROM to_device_position WHERE id = 1`).Scan(&pos); err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		for _, m := range msgs {
			pos++
			if _, err := tx.Exec(`INSERT INTO to_device (pos, user_id, device_id, sender, type, content, created_ts)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, pos, m.UserID, m.DeviceID, m.Sender, m.Type, string(m.Content), now); err != nil {
				return err
			}
		}
		_, err := tx.Exec(`UPDATE to_device_position SET pos = $1 WHERE id = 1`, pos)
		return err
	})
	return pos, dup, err
}

// ToDeviceFor returns a device's messages in (after, upto], oldest first,
// at most limit.
func (s *Store) ToDeviceFor(ctx context.Context, userID, deviceID string, after, upto int64, limit int) ([]ToDevice, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT pos, sender, type, content FROM to_device
		WHERE user_id = $1 AND device_id = $2 AND pos > $3 AND pos <= $4 ORDER BY pos LIMIT $5`, userID, deviceID, after, upto, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ToDevice
	for rows.Next() {
		m := ToDevice{UserID: userID, DeviceID: deviceID}
		var content string
		if err := rows.Scan(&m.Pos, &m.Sender, &m.Type, &content); err != nil {
			return nil, err
		}
		m.Content = json.RawMessage(content)
		out = append(out, m)
	}
	return out, rows.Err()
}

// AckToDevice deletes a device's messages up to pos, which the device
// acknowledged by syncing from a token at pos. It writes only when there
// is something to delete.
func (s *Store) AckToDevice(ctx context.Context, userID, deviceID string, pos int64) error {
	var n int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM to_device WHERE user_id = $1 AND device_id = $2 AND pos <= $3`,
		userID, deviceID, pos).Scan(&n); err != nil || n == 0 {
		return err
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM to_device WHERE user_id = $1 AND device_id = $2 AND pos <= $3`, userID, deviceID, pos)
		return err
	})
}

// DropToDevice deletes the inboxes of deleted devices.
func (s *Store) DropToDevice(ctx context.Context, userID string, deviceIDs []string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		for _, d := range deviceIDs {
			if _, err := tx.Exec(`DELETE FROM to_device WHERE user_id = $1 AND device_id = $2`, userID, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// MaxToDevicePos is the newest position allocated.
func (s *Store) MaxToDevicePos(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT pos FROM to_device_position WHERE id = 1`).Scan(&pos)
	return pos, err
}

// DropOrphanedToDevice deletes messages waiting for devices that no
// longer exist: the userapi's announcement of a deletion is not durable
// (no sync server may have been listening), and a device can be deleted
// between the check of a send and its insert. It reads the userapi's
// devices table (docs/decisions/0001); a device logging in again under
// its id is replaced in one transaction, so its inbox is never seen as
// orphaned.
func (s *Store) DropOrphanedToDevice(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM to_device WHERE NOT EXISTS
			(SELECT 1 FROM devices d WHERE d.user_id = to_device.user_id AND d.device_id = to_device.device_id)`)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// ExpireToDeviceTxns forgets transaction ids used before the time given
// in Unix milliseconds; a client retries a request within minutes, not
// days, and the table would otherwise grow with every request.
func (s *Store) ExpireToDeviceTxns(ctx context.Context, before int64) (int64, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		// to_device_txns is what sync replicas before migration 007
		// wrote: it empties as its rows expire.
		if _, err := tx.Exec(`DELETE FROM to_device_txns WHERE created_ts < $1`, before); err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM send_to_device_txns WHERE created_ts < $1`, before)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
