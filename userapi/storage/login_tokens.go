package storage

import (
	"context"
	"database/sql"
)

// PutLoginToken stores a login token hash until expiresTS and drops the
// tokens that expired before now.
func (s *Store) PutLoginToken(ctx context.Context, tokenHash []byte, userID string, expiresTS, now int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_tokens WHERE expires_ts <= $1`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO login_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)`, tokenHash, userID, expiresTS)
		return err
	})
}

// TakeLoginToken returns the user of an unexpired token and deletes it, so
// that a token logs in once; ErrNotFound otherwise.
func (s *Store) TakeLoginToken(ctx context.Context, tokenHash []byte, now int64) (string, error) {
	var user string
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT user_id FROM login_tokens WHERE token_hash = $1 AND expires_ts > $2`, tokenHash, now).Scan(&user); err != nil {
			return notFound(err, "login token")
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM login_tokens WHERE token_hash = $1`, tokenHash)
		return err
	})
	return user, err
}
