package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrDeviceInUse is returned when a dehydrated device would take the id
// of one of the user's logged-in devices.
var ErrDeviceInUse = errors.New("device id in use")

// DehydratedDevice is a row of dehydrated_devices.
type DehydratedDevice struct {
	DeviceID   string
	DeviceData string
}

// PutDehydratedDevice makes dev the user's dehydrated device, replacing
// the one before (returned as replaced, so its keys and messages can be
// dropped). dev.TokenHash must be a hash no token has: the device cannot
// log in.
func (s *Store) PutDehydratedDevice(ctx context.Context, dev *Device, data string) (replaced []Revoked, err error) {
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE user_id = $1 AND deactivated = FALSE`, dev.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("account %s: %w", dev.UserID, ErrNotFound)
		}
		old, err := dehydratedIn(ctx, tx, dev.UserID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if old != nil {
			if replaced, err = deleteDevicesWhere(ctx, tx, `user_id = $1 AND device_id = $2`, dev.UserID, old.DeviceID); err != nil {
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices WHERE user_id = $1 AND device_id = $2`, dev.UserID, dev.DeviceID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %s is a logged-in device", ErrDeviceInUse, dev.DeviceID)
		}
		if _, _, _, err := insertDevice(ctx, tx, dev); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO dehydrated_devices (user_id, device_id, device_data, created_ts) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id) DO UPDATE SET device_id = excluded.device_id, device_data = excluded.device_data, created_ts = excluded.created_ts`,
			dev.UserID, dev.DeviceID, data, dev.CreatedTS)
		return err
	})
	return replaced, err
}

// DehydratedDevice returns the user's dehydrated device, or ErrNotFound.
func (s *Store) DehydratedDevice(ctx context.Context, userID string) (*DehydratedDevice, error) {
	return dehydratedIn(ctx, s.db.Read, userID)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// dehydratedIn reads the dehydrated device; one whose device row is gone
// (logged out with all devices) does not count.
func dehydratedIn(ctx context.Context, q queryRower, userID string) (*DehydratedDevice, error) {
	var d DehydratedDevice
	err := q.QueryRowContext(ctx, `SELECT h.device_id, h.device_data FROM dehydrated_devices h
		JOIN devices d ON d.user_id = h.user_id AND d.device_id = h.device_id WHERE h.user_id = $1`, userID).
		Scan(&d.DeviceID, &d.DeviceData)
	if err != nil {
		return nil, notFound(err, "dehydrated device")
	}
	return &d, nil
}

// DeleteDehydratedDevice deletes the user's dehydrated device and returns
// it, or ErrNotFound.
func (s *Store) DeleteDehydratedDevice(ctx context.Context, userID string) (deviceID string, revoked []Revoked, err error) {
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		old, err := dehydratedIn(ctx, tx, userID)
		if err != nil {
			return err
		}
		deviceID = old.DeviceID
		revoked, err = deleteDevicesWhere(ctx, tx, `user_id = $1 AND device_id = $2`, userID, old.DeviceID)
		return err
	})
	return deviceID, revoked, err
}
