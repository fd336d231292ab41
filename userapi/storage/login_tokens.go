package storage

import (
	"context"
	"database/sql"
)

// PutLoginToken stores a login token hash, and the provider session it
// came from, until expiresTS and drops the tokens that expired before now.
func (s *Store) PutLoginToken(ctx context.Context, tokenHash []byte, userID string, origin AuthOrigin, expiresTS, now int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_tokens WHERE expires_ts <= $1`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO login_tokens (token_hash, user_id, expires_ts, auth_provider_id, auth_provider_session_id)
			VALUES ($1, $2, $3, $4, $5)`, tokenHash, userID, expiresTS, emptyAsNull(origin.Provider), emptyAsNull(origin.Session))
		return err
	})
}

// TakeLoginToken returns the user of an unexpired token, and the
// provider session it came from, and deletes it, so that a token logs in
// once; ErrNotFound otherwise.
func (s *Store) TakeLoginToken(ctx context.Context, tokenHash []byte, now int64) (string, AuthOrigin, error) {
	var (
		user              string
		provider, session sql.NullString
	)
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT user_id, auth_provider_id, auth_provider_session_id FROM login_tokens
			WHERE token_hash = $1 AND expires_ts > $2`, tokenHash, now).Scan(&user, &provider, &session); err != nil {
			return notFound(err, "login token")
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM login_tokens WHERE token_hash = $1`, tokenHash)
		return err
	})
	return user, AuthOrigin{Provider: provider.String, Session: session.String}, err
}
