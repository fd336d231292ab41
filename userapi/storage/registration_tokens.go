package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrTokenExists is a registration token that is already there.
var ErrTokenExists = errors.New("registration token already exists")

// RegistrationToken is a row of registration_tokens with the uses in
// progress (Pending) counted at the time of reading.
type RegistrationToken struct {
	Token       string
	UsesAllowed *int
	Pending     int
	Completed   int
	ExpiryTime  *int64
}

// Valid tells whether the token may still start a registration at now.
func (t RegistrationToken) Valid(now int64) bool {
	if t.ExpiryTime != nil && *t.ExpiryTime <= now {
		return false
	}
	return t.UsesAllowed == nil || t.Pending+t.Completed < *t.UsesAllowed
}

const tokenColumns = `t.token, t.uses_allowed, (SELECT COUNT(*) FROM registration_token_pending p
	WHERE p.token = t.token AND p.expires_ts > $1), t.completed, t.expiry_time`

func scanToken(row interface{ Scan(...any) error }) (RegistrationToken, error) {
	var (
		t      RegistrationToken
		uses   sql.NullInt64
		expiry sql.NullInt64
	)
	if err := row.Scan(&t.Token, &uses, &t.Pending, &t.Completed, &expiry); err != nil {
		return t, err
	}
	if uses.Valid {
		n := int(uses.Int64)
		t.UsesAllowed = &n
	}
	if expiry.Valid {
		t.ExpiryTime = &expiry.Int64
	}
	return t, nil
}

// RegistrationTokens lists the tokens by token; valid, when set, keeps
// only the valid (true) or the invalid ones at now.
func (s *Store) RegistrationTokens(ctx context.Context, valid *bool, now int64) ([]RegistrationToken, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+tokenColumns+` FROM registration_tokens t ORDER BY t.token`, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RegistrationToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		if valid == nil || t.Valid(now) == *valid {
			out = append(out, t)
		}
	}
	return out, rows.Err()
}

// RegistrationToken is one token; ErrNotFound when there is none.
func (s *Store) RegistrationToken(ctx context.Context, token string, now int64) (*RegistrationToken, error) {
	return registrationToken(ctx, s.db.Read, token, now)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func registrationToken(ctx context.Context, q queryer, token string, now int64) (*RegistrationToken, error) {
	t, err := scanToken(q.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM registration_tokens t WHERE t.token = $2`, now, token))
	if err != nil {
		return nil, notFound(err, "registration token")
	}
	return &t, nil
}

// CreateRegistrationToken adds a token; ErrTokenExists when it is there.
func (s *Store) CreateRegistrationToken(ctx context.Context, t RegistrationToken) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM registration_tokens WHERE token = $1`, t.Token).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrTokenExists
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO registration_tokens (token, uses_allowed, completed, expiry_time)
			VALUES ($1, $2, 0, $3)`, t.Token, t.UsesAllowed, t.ExpiryTime)
		return err
	})
}

// RegistrationTokenUpdate changes the fields whose Set flag is true (a
// nil value clears the limit).
type RegistrationTokenUpdate struct {
	SetUses     bool
	UsesAllowed *int
	SetExpiry   bool
	ExpiryTime  *int64
}

// UpdateRegistrationToken applies u and returns the token as it is then;
// ErrNotFound for unknown tokens.
func (s *Store) UpdateRegistrationToken(ctx context.Context, token string, u RegistrationTokenUpdate, now int64) (*RegistrationToken, error) {
	var out *RegistrationToken
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if u.SetUses {
			if _, err := tx.ExecContext(ctx, `UPDATE registration_tokens SET uses_allowed = $1 WHERE token = $2`, u.UsesAllowed, token); err != nil {
				return err
			}
		}
		if u.SetExpiry {
			if _, err := tx.ExecContext(ctx, `UPDATE registration_tokens SET expiry_time = $1 WHERE token = $2`, u.ExpiryTime, token); err != nil {
				return err
			}
		}
		var err error
		out, err = registrationToken(ctx, tx, token, now)
		return err
	})
	return out, err
}

// DeleteRegistrationToken deletes a token and its uses in progress;
// ErrNotFound for unknown tokens.
func (s *Store) DeleteRegistrationToken(ctx context.Context, token string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM registration_tokens WHERE token = $1`, token)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("registration token: %w", ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM registration_token_pending WHERE token = $1`, token)
		return err
	})
}

// ReserveRegistrationToken records a use of token in progress by the
// auth session until expires, if the token is valid at now not counting
// the session's own earlier reservation; ErrNotFound if it is not.
// Expired reservations are dropped on the way.
func (s *Store) ReserveRegistrationToken(ctx context.Context, token, session string, now, expires int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		// Lock the token's row (PostgreSQL) so that concurrent sessions
		// cannot both take its last use.
		if _, err := tx.ExecContext(ctx, `UPDATE registration_tokens SET completed = completed WHERE token = $1`, token); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM registration_token_pending WHERE expires_ts <= $1 OR session_id = $2`, now, session); err != nil {
			return err
		}
		t, err := registrationToken(ctx, tx, token, now)
		if err != nil {
			return err
		}
		if !t.Valid(now) {
			return fmt.Errorf("registration token no longer valid: %w", ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO registration_token_pending (session_id, token, expires_ts) VALUES ($1, $2, $3)`,
			session, token, expires)
		return err
	})
}

// CompleteRegistrationToken turns the session's use in progress into a
// completed one. A session without one (the token was deleted) changes
// nothing.
func (s *Store) CompleteRegistrationToken(ctx context.Context, session string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		var token string
		err := tx.QueryRowContext(ctx, `SELECT token FROM registration_token_pending WHERE session_id = $1`, session).Scan(&token)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM registration_token_pending WHERE session_id = $1`, session); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE registration_tokens SET completed = completed + 1 WHERE token = $1`, token)
		return err
	})
}
