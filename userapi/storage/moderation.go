package storage

import (
	"context"
	"database/sql"
	"fmt"
)

// Moderation is whether an account is locked and whether it is suspended.
type Moderation struct {
	Locked    bool
	Suspended bool
}

// SetModeration changes the flags that are not nil on an active account
// and returns them as they are now, with the token hashes of the
// account's devices so that callers can drop them from their caches.
// ErrNotFound for unknown and deactivated accounts.
func (s *Store) SetModeration(ctx context.Context, userID string, locked, suspended *bool) (*Moderation, [][]byte, error) {
	var (
		m      Moderation
		hashes [][]byte
	)
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE accounts SET
				locked = COALESCE($1, locked),
				suspended = COALESCE($2, suspended)
			WHERE user_id = $3 AND deactivated = FALSE RETURNING locked, suspended`,
			nullBool(locked), nullBool(suspended), userID).Scan(&m.Locked, &m.Suspended)
		if err != nil {
			return notFound(err, "account "+userID)
		}
		rows, err := tx.QueryContext(ctx, `SELECT token_hash FROM devices WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				return err
			}
			hashes = append(hashes, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, nil, err
	}
	return &m, hashes, nil
}

// Moderation returns an active account's flags; ErrNotFound for unknown
// and deactivated accounts.
func (s *Store) Moderation(ctx context.Context, userID string) (*Moderation, error) {
	var m Moderation
	err := s.db.Read.QueryRowContext(ctx, `SELECT locked, suspended FROM accounts WHERE user_id = $1 AND deactivated = FALSE`, userID).
		Scan(&m.Locked, &m.Suspended)
	if err != nil {
		return nil, fmt.Errorf("moderation: %w", notFound(err, "account "+userID))
	}
	return &m, nil
}

func nullBool(b *bool) sql.NullBool {
	if b == nil {
		return sql.NullBool{}
	}
	return sql.NullBool{Bool: *b, Valid: true}
}
