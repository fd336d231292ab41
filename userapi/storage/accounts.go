package storage

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Account is a row of accounts.
type Account struct {
	UserID       string
	PasswordHash string
	IsGuest      bool
	IsAdmin      bool
	Deactivated  bool
	CreatedTS    int64
}

// Revoked is a device whose access token stopped working; callers drop it
// from their token caches.
type Revoked struct {
	SessionID int64
	TokenHash []byte
	// UserID and DeviceID are set when the device was deleted.
	UserID, DeviceID string
}

// CreateAccount inserts the account with its profile and, if dev is not
// nil, its first device, all in one transaction. It fails with ErrExists
// when the user id is taken. dev.SessionID is set on success.
func (s *Store) CreateAccount(ctx context.Context, acc Account, displayName string, dev *Device) error {
	var (
		sessionID int64
		name      *string
	)
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := insertAccount(ctx, tx, acc, displayName); err != nil {
			return err
		}
		if dev != nil {
			var err error
			if sessionID, name, _, err = insertDevice(ctx, tx, dev); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && dev != nil {
		dev.SessionID, dev.DisplayName = sessionID, name
	}
	return err
}

// insertAccount inserts the account with its profile; ErrExists when the
// user id is taken.
func insertAccount(ctx context.Context, tx *sql.Tx, acc Account, displayName string) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO accounts (user_id, password_hash, is_guest, is_admin, deactivated, created_ts)
		VALUES ($1, $2, $3, $4, FALSE, $5) ON CONFLICT (user_id) DO NOTHING`,
		acc.UserID, acc.PasswordHash, acc.IsGuest, acc.IsAdmin, acc.CreatedTS)
	if err != nil {
		return fmt.Errorf("insert account: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("account %s: %w", acc.UserID, ErrExists)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO profiles (user_id, displayname, avatar_url) VALUES ($1, $2, '')`,
		acc.UserID, displayName); err != nil {
		return fmt.Errorf("insert profile: %w", err)
	}
	return updateSearchText(ctx, tx, acc.UserID)
}

// Account returns the account, deactivated or not.
func (s *Store) Account(ctx context.Context, userID string) (*Account, error) {
	a := Account{UserID: userID}
	err := s.db.Read.QueryRowContext(ctx, `SELECT password_hash, is_guest, is_admin, deactivated, created_ts
		FROM accounts WHERE user_id = $1`, userID).
		Scan(&a.PasswordHash, &a.IsGuest, &a.IsAdmin, &a.Deactivated, &a.CreatedTS)
	if err != nil {
		return nil, notFound(err, "account "+userID)
	}
	return &a, nil
}

// SetPasswordHash replaces the password of an active account. With
// logout, it also deletes every device but keepDevice ("" keeps none).
func (s *Store) SetPasswordHash(ctx context.Context, userID, hash string, logout bool, keepDevice string) ([]Revoked, error) {
	var revoked []Revoked
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = $1 WHERE user_id = $2 AND deactivated = FALSE`, hash, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("account %s: %w", userID, ErrNotFound)
		}
		if !logout {
			return nil
		}
		revoked, err = deleteDevicesWhere(ctx, tx, `user_id = $1 AND device_id <> $2`, userID, keepDevice)
		return err
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}

// Deactivate marks the account deactivated, erases its password and
// deletes all its devices.
func (s *Store) Deactivate(ctx context.Context, userID string) ([]Revoked, error) {
	var revoked []Revoked
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET deactivated = TRUE, password_hash = '' WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("account %s: %w", userID, ErrNotFound)
		}
		if err := deleteThreePIDs(ctx, tx, userID); err != nil {
			return err
		}
		revoked, err = deleteDevicesWhere(ctx, tx, `user_id = $1`, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}

// UpgradeGuest makes a guest account a full account with the password
// hash, gives it displayName if it has none, and, if dev is not nil, logs
// dev in, all in one transaction. It fails with ErrNotFound unless userID
// is an active guest. The returned devices are the account's earlier
// logins: they keep working, but caches hold them as guests.
func (s *Store) UpgradeGuest(ctx context.Context, userID, passwordHash, displayName string, dev *Device) ([]Revoked, error) {
	var (
		stale     []Revoked
		sessionID int64
		name      *string
	)
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		stale = nil
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET is_guest = FALSE, password_hash = $1
			WHERE user_id = $2 AND is_guest = TRUE AND deactivated = FALSE`, passwordHash, userID)
		if err != nil {
			return fmt.Errorf("upgrade account: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("guest account %s: %w", userID, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE profiles SET displayname = $1 WHERE user_id = $2 AND displayname = ''`,
			displayName, userID); err != nil {
			return fmt.Errorf("upgrade profile: %w", err)
		}
		if err := updateSearchText(ctx, tx, userID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT session_id, token_hash FROM devices WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Revoked
			if err := rows.Scan(&r.SessionID, &r.TokenHash); err != nil {
				return err
			}
			stale = append(stale, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if dev != nil {
			var replaced *Revoked
			if sessionID, name, replaced, err = insertDevice(ctx, tx, dev); err != nil {
				return err
			}
			if replaced != nil {
				stale = append(stale, *replaced)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if dev != nil {
		dev.SessionID, dev.DisplayName = sessionID, name
	}
	return stale, nil
}

// SetErased marks the account erased.
func (s *Store) SetErased(ctx context.Context, userID string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET erased = TRUE WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("account %s: %w", userID, ErrNotFound)
		}
		return nil
	})
}

// ErasedUsers lists the erased accounts.
func (s *Store) ErasedUsers(ctx context.Context) ([]string, error) {
	return sqlutil.Strings(s.db.Read.QueryContext(ctx, `SELECT user_id FROM accounts WHERE erased`))
}

// HasAccounts tells whether any account other than a guest's exists.
func (s *Store) HasAccounts(ctx context.Context) (bool, error) {
	var exists bool
	err := s.db.Read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE NOT is_guest)`).Scan(&exists)
	return exists, err
}
