package storage

import (
	"context"
	"database/sql"
)

// PutOpenIDToken stores a token hash for the user until expiresTS, and
// drops the tokens that expired before now.
func (s *Store) PutOpenIDToken(ctx context.Context, tokenHash []byte, userID string, expiresTS, now int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM openid_tokens WHERE expires_ts <= $1`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)`,
			tokenHash, userID, expiresTS)
		return err
	})
}

// OpenIDTokenOwner returns the user of a token that has not expired at
// now, or ErrNotFound.
func (s *Store) OpenIDTokenOwner(ctx context.Context, tokenHash []byte, now int64) (string, error) {
	var user string
	err := s.db.Read.QueryRowContext(ctx, `SELECT user_id FROM openid_tokens WHERE token_hash = $1 AND expires_ts > $2`,
		tokenHash, now).Scan(&user)
	if err != nil {
		return "", notFound(err, "openid token")
	}
	return user, nil
}
