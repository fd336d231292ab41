package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// BackupVersion is one key backup version of a user.
type BackupVersion struct {
	Version   int64
	Algorithm string
	AuthData  []byte
	Etag      int64
	Count     int
}

// BackupKey is one backed-up room key.
type BackupKey struct {
	RoomID, SessionID string
	FirstMessageIndex int64
	ForwardedCount    int64
	IsVerified        bool
	SessionData       []byte
}

// lockBackups serialises the writes to one user's backups across
// processes on PostgreSQL, whose transactions would otherwise both read
// the same highest version, or both find no copy of a session and both
// store theirs whatever the replacement rule says. SQLite has one writer.
func (s *Store) lockBackups(tx *sql.Tx, userID string) error {
	if s.db.Dialect != sqlutil.Postgres {
		return nil
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte("rohrpost key backup " + userID))
	_, err := tx.Exec(`SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64()))
	return err
}

// CreateBackupVersion adds a version, numbered one above the user's
// highest (deleted ones included, so numbers are never reused).
func (s *Store) CreateBackupVersion(ctx context.Context, userID, algorithm string, authData []byte) (int64, error) {
	var version int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := s.lockBackups(tx, userID); err != nil {
			return err
		}
		if err := tx.QueryRow(`SELECT COALESCE(MAX(version), 0) + 1 FROM key_backup_versions WHERE user_id = $1`, userID).Scan(&version); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO key_backup_versions (user_id, version, algorithm, auth_data) VALUES ($1, $2, $3, $4)`,
			userID, version, algorithm, string(authData))
		return err
	})
	return version, err
}

// BackupVersion returns a live version, or the newest live one for
// version 0; ErrNotFound when there is none.
func (s *Store) BackupVersion(ctx context.Context, userID string, version int64) (*BackupVersion, error) {
	q := `SELECT version, algorithm, auth_data, etag FROM key_backup_versions WHERE user_id = $1 AND NOT deleted`
	args := []any{userID}
	if version > 0 {
		q += ` AND version = $2`
		args = append(args, version)
	} else {
		q += ` ORDER BY version DESC LIMIT 1`
	}
	var v BackupVersion
	var auth string
	err := s.db.Read.QueryRowContext(ctx, q, args...).Scan(&v.Version, &v.Algorithm, &auth, &v.Etag)
	if err != nil {
		return nil, notFound(err, "backup version")
	}
	v.AuthData = []byte(auth)
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_backup_keys WHERE user_id = $1 AND version = $2`,
		userID, v.Version).Scan(&v.Count); err != nil {
		return nil, err
	}
	return &v, nil
}

// UpdateBackupAuthData replaces a live version's auth_data.
func (s *Store) UpdateBackupAuthData(ctx context.Context, userID string, version int64, authData []byte) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE key_backup_versions SET auth_data = $1 WHERE user_id = $2 AND version = $3 AND NOT deleted`,
			string(authData), userID, version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// DeleteBackupVersion marks a version deleted and drops its keys.
func (s *Store) DeleteBackupVersion(ctx context.Context, userID string, version int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := s.lockBackups(tx, userID); err != nil {
			return err
		}
		res, err := tx.Exec(`UPDATE key_backup_versions SET deleted = TRUE WHERE user_id = $1 AND version = $2 AND NOT deleted`, userID, version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec(`DELETE FROM key_backup_keys WHERE user_id = $1 AND version = $2`, userID, version)
		return err
	})
}

// ErrWrongVersion is a write to a version that is not the newest.
var ErrWrongVersion = errors.New("not the current backup version")

// PutBackupKeys stores keys into the user's current version, keeping an
// existing key where better is false for the new one, and returns the
// version's count and etag. Without a current version it returns
// ErrNotFound, for another version ErrWrongVersion.
func (s *Store) PutBackupKeys(ctx context.Context, userID string, version int64, keys []BackupKey, better func(old, new BackupKey) bool) (count int, etag int64, err error) {
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := s.lockBackups(tx, userID); err != nil {
			return err
		}
		var current int64
		if err := tx.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM key_backup_versions WHERE user_id = $1 AND NOT deleted`, userID).Scan(&current); err != nil {
			return err
		}
		if current == 0 {
			return fmt.Errorf("backup version: %w", ErrNotFound)
		}
		if current != version {
			return ErrWrongVersion
		}
		changed := false
		for _, k := range keys {
			var old BackupKey
			var data string
			err := tx.QueryRow(`SELECT first_message_index, forwarded_count, is_verified, session_data FROM key_backup_keys
				WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4`, userID, version, k.RoomID, k.SessionID).
				Scan(&old.FirstMessageIndex, &old.ForwardedCount, &old.IsVerified, &data)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if err == nil && !better(old, k) {
				continue
			}
			if _, err := tx.Exec(`INSERT INTO key_backup_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
				first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count,
				is_verified = excluded.is_verified, session_data = excluded.session_data`,
				userID, version, k.RoomID, k.SessionID, k.FirstMessageIndex, k.ForwardedCount, k.IsVerified, string(k.SessionData)); err != nil {
				return err
			}
			changed = true
		}
		if changed {
			if _, err := tx.Exec(`UPDATE key_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2`, userID, version); err != nil {
				return err
			}
		}
		return tx.QueryRow(`SELECT etag, (SELECT COUNT(*) FROM key_backup_keys WHERE user_id = $1 AND version = $2)
			FROM key_backup_versions WHERE user_id = $1 AND version = $2`, userID, version).Scan(&etag, &count)
	})
	return count, etag, err
}

// BackupKeys reads a version's keys, all or of one room or one session.
func (s *Store) BackupKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) ([]BackupKey, error) {
	where, args := backupKeysWhere(userID, version, roomID, sessionID)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data
		FROM key_backup_keys WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BackupKey
	for rows.Next() {
		var k BackupKey
		var data string
		if err := rows.Scan(&k.RoomID, &k.SessionID, &k.FirstMessageIndex, &k.ForwardedCount, &k.IsVerified, &data); err != nil {
			return nil, err
		}
		k.SessionData = []byte(data)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteBackupKeys deletes a version's keys, all or of one room or one
// session, and returns the version's count and etag.
func (s *Store) DeleteBackupKeys(ctx context.Context, userID string, version int64, roomID, sessionID string) (count int, etag int64, err error) {
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := s.lockBackups(tx, userID); err != nil {
			return err
		}
		where, args := backupKeysWhere(userID, version, roomID, sessionID)
		res, err := tx.Exec(`DELETE FROM key_backup_keys WHERE `+where, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if _, err := tx.Exec(`UPDATE key_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2`, userID, version); err != nil {
				return err
			}
		}
		err = tx.QueryRow(`SELECT etag, (SELECT COUNT(*) FROM key_backup_keys WHERE user_id = $1 AND version = $2)
			FROM key_backup_versions WHERE user_id = $1 AND version = $2 AND NOT deleted`, userID, version).Scan(&etag, &count)
		return notFound(err, "backup version")
	})
	return count, etag, err
}

// backupKeysWhere selects a version's keys: all, a room's (roomID set) or
// one session's (roomID and sessionID set).
func backupKeysWhere(userID string, version int64, roomID, sessionID string) (string, []any) {
	where := `user_id = $1 AND version = $2`
	args := []any{userID, version}
	if roomID != "" {
		args = append(args, roomID)
		where += ` AND room_id = $3`
	}
	if roomID != "" && sessionID != "" {
		args = append(args, sessionID)
		where += ` AND session_id = $4`
	}
	return where, args
}
