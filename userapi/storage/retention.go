package storage

import (
	"context"
	"database/sql"
)

// The retention jobs' queries (userapi/retention.go).

// DeviceRef names one device.
type DeviceRef struct {
	UserID, DeviceID string
}

// StaleDevices lists up to limit devices last used before ts (never used:
// made before ts). A user's dehydrated device is left out: it makes no
// requests by design, and its owner's clients still need it.
func (s *Store) StaleDevices(ctx context.Context, ts int64, limit int) ([]DeviceRef, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT d.user_id, d.device_id FROM devices d
		WHERE COALESCE(d.last_seen_ts, d.created_ts) < $1
		AND NOT EXISTS (SELECT 1 FROM dehydrated_devices h WHERE h.user_id = d.user_id AND h.device_id = d.device_id)
		ORDER BY d.session_id LIMIT $2`, ts, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeviceRef
	for rows.Next() {
		var d DeviceRef
		if err := rows.Scan(&d.UserID, &d.DeviceID); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ForgetAddresses removes the client address and user agent of up to
// limit devices last seen before ts and says how many it changed. The
// time of the last request stays: the stale device job needs it.
func (s *Store) ForgetAddresses(ctx context.Context, ts int64, limit int) (int, error) {
	var n int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET last_seen_ip = NULL, last_seen_user_agent = NULL
			WHERE session_id IN (SELECT session_id FROM devices WHERE last_seen_ts < $1
				AND (last_seen_ip IS NOT NULL OR last_seen_user_agent IS NOT NULL) LIMIT $2)`, ts, limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
