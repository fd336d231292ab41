package storage

import (
	"context"
	"database/sql"
	"fmt"
)

// SetShadowBanned sets the account's shadow ban and returns the hashes
// of its access tokens, whose cached devices carry the flag.
func (s *Store) SetShadowBanned(ctx context.Context, userID string, banned bool) ([][]byte, error) {
	var hashes [][]byte
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET shadow_banned = $1 WHERE user_id = $2`, banned, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("account %s: %w", userID, ErrNotFound)
		}
		hashes, err = accountTokenHashes(ctx, tx, userID)
		return err
	})
	return hashes, err
}
