package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Device is a row of devices.
type Device struct {
	SessionID   int64
	UserID      string
	DeviceID    string
	DisplayName *string
	TokenHash   []byte
	CreatedTS   int64
	// TokenExpiresTS is when the access token expires (Unix ms); 0 for
	// never. RefreshHash is the hash of the refresh token, if any.
	TokenExpiresTS int64
	RefreshHash    []byte
	// LastSeenTS is 0 while the device has made no authenticated request.
	LastSeenTS        int64
	LastSeenIP        string
	LastSeenUserAgent string
	// Origin is the identity provider session the device logged in
	// through (single sign-on); written at login only.
	Origin AuthOrigin
}

// TokenOwner is the device an access token belongs to, with the account
// flags every request needs.
type TokenOwner struct {
	SessionID   int64
	UserID      string
	DeviceID    string
	DisplayName string
	IsGuest     bool
	IsAdmin     bool
	Moderation
	// ExpiresTS is when the access token expires (Unix ms), 0 for never.
	ExpiresTS int64
	// RefreshPending: the token comes from a refresh and is used for the
	// first time; ConfirmRefresh revokes the refresh token used for it.
	RefreshPending bool
	// RateOverride is an admin's rate limit for the user, nil if none.
	RateOverride *RateOverride
	// ShadowBanned: the user's sends reach nobody.
	ShadowBanned bool
}

// CreateDevice logs a device in. If the user already has a device with
// this id, that login is replaced: its token stops working (returned as
// replaced) and its display name is kept. dev.SessionID is set on success.
func (s *Store) CreateDevice(ctx context.Context, dev *Device) (replaced *Revoked, err error) {
	var (
		sessionID int64
		name      *string
	)
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE user_id = $1 AND deactivated = FALSE`, dev.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("account %s: %w", dev.UserID, ErrNotFound)
		}
		var err error
		sessionID, name, replaced, err = insertDevice(ctx, tx, dev)
		return err
	})
	if err != nil {
		return nil, err
	}
	dev.SessionID, dev.DisplayName = sessionID, name
	return replaced, nil
}

// insertDevice inserts dev, replacing an existing login of the same device
// id and keeping its display name. It returns the new session id and the
// display name the device ended up with.
func insertDevice(ctx context.Context, tx *sql.Tx, dev *Device) (int64, *string, *Revoked, error) {
	var (
		old     Revoked
		oldName sql.NullString
		found   bool
	)
	err := tx.QueryRowContext(ctx, `DELETE FROM devices WHERE user_id = $1 AND device_id = $2
		RETURNING session_id, token_hash, display_name`, dev.UserID, dev.DeviceID).
		Scan(&old.SessionID, &old.TokenHash, &oldName)
	switch {
	case err == nil:
		found = true
		if err := deletePushersOf(ctx, tx, old.SessionID); err != nil {
			return 0, nil, nil, err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return 0, nil, nil, fmt.Errorf("replace device: %w", err)
	}
	// A login under the id of the dehydrated device takes the id over; the
	// device is no longer dehydrated.
	if _, err := tx.ExecContext(ctx, `DELETE FROM dehydrated_devices WHERE user_id = $1 AND device_id = $2`, dev.UserID, dev.DeviceID); err != nil {
		return 0, nil, nil, fmt.Errorf("replace dehydrated device: %w", err)
	}
	name := dev.DisplayName
	if found {
		name = nil
		if oldName.Valid {
			name = &oldName.String
		}
	}
	var id int64
	// NULL, not an empty value, for what the device does not have: the
	// refresh hashes are unique.
	var expires, refresh any
	if dev.TokenExpiresTS != 0 {
		expires = dev.TokenExpiresTS
	}
	if len(dev.RefreshHash) > 0 {
		refresh = dev.RefreshHash
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO devices (user_id, device_id, display_name, token_hash, created_ts, token_expires_ts, refresh_hash,
			auth_provider_id, auth_provider_session_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING session_id`,
		dev.UserID, dev.DeviceID, nullString(name), dev.TokenHash, dev.CreatedTS, expires, refresh,
		emptyAsNull(dev.Origin.Provider), emptyAsNull(dev.Origin.Session)).Scan(&id)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("insert device: %w", err)
	}
	if !found {
		return id, name, nil, nil
	}
	return id, name, &old, nil
}

// TokenOwner finds the active device holding the token with this hash.
func (s *Store) TokenOwner(ctx context.Context, tokenHash []byte) (*TokenOwner, error) {
	var (
		o           TokenOwner
		name        sql.NullString
		expires     sql.NullInt64
		rate, burst sql.NullInt64
	)
	err := s.db.Read.QueryRowContext(ctx, `SELECT d.session_id, d.user_id, d.device_id, d.display_name, a.is_guest, a.is_admin,
			a.locked, a.suspended, d.token_expires_ts, d.prev_refresh_hash IS NOT NULL, r.messages_per_second, r.burst_count,
			a.shadow_banned
		FROM devices d JOIN accounts a ON a.user_id = d.user_id LEFT JOIN ratelimit_override r ON r.user_id = d.user_id
		WHERE d.token_hash = $1 AND a.deactivated = FALSE`, tokenHash).
		Scan(&o.SessionID, &o.UserID, &o.DeviceID, &name, &o.IsGuest, &o.IsAdmin, &o.Locked, &o.Suspended, &expires, &o.RefreshPending,
			&rate, &burst, &o.ShadowBanned)
	if err != nil {
		return nil, notFound(err, "access token")
	}
	o.DisplayName, o.ExpiresTS = name.String, expires.Int64
	if rate.Valid {
		o.RateOverride = &RateOverride{MessagesPerSecond: rate.Int64, BurstCount: burst.Int64}
	}
	return &o, nil
}

const deviceColumns = `session_id, user_id, device_id, display_name, token_hash, created_ts, last_seen_ts, last_seen_ip, last_seen_user_agent`

func scanDevice(row interface{ Scan(...any) error }) (*Device, error) {
	var (
		d            Device
		name, ip, ua sql.NullString
		lastSeen     sql.NullInt64
	)
	if err := row.Scan(&d.SessionID, &d.UserID, &d.DeviceID, &name, &d.TokenHash, &d.CreatedTS, &lastSeen, &ip, &ua); err != nil {
		return nil, err
	}
	if name.Valid {
		d.DisplayName = &name.String
	}
	d.LastSeenTS, d.LastSeenIP, d.LastSeenUserAgent = lastSeen.Int64, ip.String, ua.String
	return &d, nil
}

// Devices lists the user's devices ordered by device id.
func (s *Store) Devices(ctx context.Context, userID string) ([]Device, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY device_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// Device returns one of the user's devices.
func (s *Store) Device(ctx context.Context, userID, deviceID string) (*Device, error) {
	d, err := scanDevice(s.db.Read.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 AND device_id = $2`, userID, deviceID))
	if err != nil {
		return nil, notFound(err, "device "+deviceID)
	}
	return d, nil
}

// SetDeviceName renames a device and returns it as it is now.
func (s *Store) SetDeviceName(ctx context.Context, userID, deviceID, name string) (*Device, error) {
	var d *Device
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDevice(tx.QueryRowContext(ctx, `UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3
			RETURNING `+deviceColumns, name, userID, deviceID))
		return notFound(err, "device "+deviceID)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// DeleteDevices deletes the named devices of the user; unknown ids are
// skipped.
func (s *Store) DeleteDevices(ctx context.Context, userID string, deviceIDs []string) ([]Revoked, error) {
	if len(deviceIDs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 1+len(deviceIDs))
	args = append(args, userID)
	for _, id := range deviceIDs {
		args = append(args, id)
	}
	return s.deleteDevices(ctx, `user_id = $1 AND device_id IN (`+sqlutil.InList(2, len(deviceIDs))+`)`, args...)
}

// DeleteSession deletes one login by its session id.
func (s *Store) DeleteSession(ctx context.Context, sessionID int64) ([]Revoked, error) {
	return s.deleteDevices(ctx, `session_id = $1`, sessionID)
}

// DeleteAllDevices deletes every device of the user.
func (s *Store) DeleteAllDevices(ctx context.Context, userID string) ([]Revoked, error) {
	return s.deleteDevices(ctx, `user_id = $1`, userID)
}

func (s *Store) deleteDevices(ctx context.Context, where string, args ...any) ([]Revoked, error) {
	var revoked []Revoked
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var err error
		revoked, err = deleteDevicesWhere(ctx, tx, where, args...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}

func deleteDevicesWhere(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]Revoked, error) {
	rows, err := tx.QueryContext(ctx, `DELETE FROM devices WHERE `+where+` RETURNING session_id, token_hash, user_id, device_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("delete devices: %w", err)
	}
	defer rows.Close()
	var out []Revoked
	for rows.Next() {
		var r Revoked
		if err := rows.Scan(&r.SessionID, &r.TokenHash, &r.UserID, &r.DeviceID); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for _, r := range out {
		if _, err := tx.ExecContext(ctx, `DELETE FROM dehydrated_devices WHERE user_id = $1 AND device_id = $2`, r.UserID, r.DeviceID); err != nil {
			return nil, fmt.Errorf("delete dehydrated device: %w", err)
		}
		if err := deletePushersOf(ctx, tx, r.SessionID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TouchDevice records the time, address and user agent of a request made
// with the device's token.
func (s *Store) TouchDevice(ctx context.Context, sessionID, ts int64, ip, userAgent string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE devices SET last_seen_ts = $1, last_seen_ip = $2, last_seen_user_agent = $3
			WHERE session_id = $4`, ts, ip, userAgent, sessionID)
		return err
	})
}

func nullString(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *s, Valid: true}
}

// Refreshed is a device whose tokens a refresh replaced.
type Refreshed struct {
	SessionID        int64
	UserID, DeviceID string
	// OldTokenHash is the access token that stopped working.
	OldTokenHash []byte
}

// ErrRefreshLocked is returned by RefreshDevice for a locked account,
// which gets no new access token until it is unlocked.
var ErrRefreshLocked = errors.New("account locked")

// RefreshDevice replaces the access and refresh token of the device whose
// current or previous refresh token has the hash used. The access token
// then expires at expiresTS; the refresh token used stays valid (as the
// previous one) until the new access token or refresh token is used.
// ErrNotFound if no device of an active account has the refresh token.
func (s *Store) RefreshDevice(ctx context.Context, used, tokenHash, refreshHash []byte, expiresTS int64) (*Refreshed, error) {
	var r Refreshed
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var locked bool
		err := tx.QueryRowContext(ctx, `SELECT d.session_id, d.user_id, d.device_id, d.token_hash, a.locked
			FROM devices d JOIN accounts a ON a.user_id = d.user_id
			WHERE (d.refresh_hash = $1 OR d.prev_refresh_hash = $1) AND a.deactivated = FALSE`, used).
			Scan(&r.SessionID, &r.UserID, &r.DeviceID, &r.OldTokenHash, &locked)
		if err != nil {
			return notFound(err, "refresh token")
		}
		if locked {
			return ErrRefreshLocked
		}
		// Using the current refresh token revokes the previous one; using
		// the previous one again (the client lost the answer) revokes the
		// tokens of that lost answer. Either way the token used becomes
		// the previous one.
		_, err = tx.ExecContext(ctx, `UPDATE devices SET token_hash = $1, token_expires_ts = $2, refresh_hash = $3, prev_refresh_hash = $4
			WHERE session_id = $5`, tokenHash, expiresTS, refreshHash, used, r.SessionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// ConfirmRefresh revokes the previous refresh token of a session once
// the access token a refresh gave it is used.
func (s *Store) ConfirmRefresh(ctx context.Context, sessionID int64, tokenHash []byte) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE devices SET prev_refresh_hash = NULL WHERE session_id = $1 AND token_hash = $2`, sessionID, tokenHash)
		return err
	})
}
