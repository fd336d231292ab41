package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ThreePID is an address bound to an account.
type ThreePID struct {
	Medium, Address, UserID string
	AddedTS, ValidatedTS    int64
}

// ThreePIDSession is a validation in progress or done.
type ThreePIDSession struct {
	SID, ClientSecret, Medium, Address, NextLink string
	TokenHash                                    []byte
	SendAttempt, CreatedTS, ValidatedTS          int64
}

// ThreePIDOwner returns who the address is bound to, or ErrNotFound.
func (s *Store) ThreePIDOwner(ctx context.Context, medium, address string) (string, error) {
	var user string
	err := s.db.Read.QueryRowContext(ctx, `SELECT user_id FROM threepids WHERE medium = $1 AND address = $2`, medium, address).Scan(&user)
	return user, notFound(err, "third-party id")
}

// ThreePIDs lists the user's addresses, oldest first.
func (s *Store) ThreePIDs(ctx context.Context, userID string) ([]ThreePID, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT medium, address, added_ts, validated_ts FROM threepids WHERE user_id = $1 ORDER BY added_ts, address`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ThreePID
	for rows.Next() {
		t := ThreePID{UserID: userID}
		if err := rows.Scan(&t.Medium, &t.Address, &t.AddedTS, &t.ValidatedTS); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// AddThreePID binds the address to the user; ErrExists when it is bound
// to someone else. Binding it to its owner again changes nothing.
func (s *Store) AddThreePID(ctx context.Context, t ThreePID) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		return addThreePID(ctx, tx, t)
	})
}

func addThreePID(ctx context.Context, tx *sql.Tx, t ThreePID) error {
	var owner string
	err := tx.QueryRowContext(ctx, `SELECT user_id FROM threepids WHERE medium = $1 AND address = $2`, t.Medium, t.Address).Scan(&owner)
	switch {
	case err == nil && owner == t.UserID:
		return nil
	case err == nil:
		return fmt.Errorf("third-party id %s: %w", t.Address, ErrExists)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO threepids (medium, address, user_id, added_ts, validated_ts) VALUES ($1, $2, $3, $4, $5)`,
		t.Medium, t.Address, t.UserID, t.AddedTS, t.ValidatedTS)
	return err
}

// DeleteThreePID unbinds the address from the user; ErrNotFound when it
// is not the user's.
func (s *Store) DeleteThreePID(ctx context.Context, userID, medium, address string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM threepids WHERE user_id = $1 AND medium = $2 AND address = $3`, userID, medium, address)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("third-party id %s: %w", address, ErrNotFound)
		}
		return nil
	})
}

// ThreePIDSessionFor returns the session of a client secret and address.
func (s *Store) ThreePIDSessionFor(ctx context.Context, clientSecret, medium, address string) (*ThreePIDSession, error) {
	return s.scanThreePIDSession(s.db.Read.QueryRowContext(ctx, `SELECT `+threePIDSessionColumns+` FROM threepid_sessions
		WHERE client_secret = $1 AND medium = $2 AND address = $3`, clientSecret, medium, address))
}

// ThreePIDSession returns a session by id, or ErrNotFound.
func (s *Store) ThreePIDSession(ctx context.Context, sid string) (*ThreePIDSession, error) {
	return s.scanThreePIDSession(s.db.Read.QueryRowContext(ctx, `SELECT `+threePIDSessionColumns+` FROM threepid_sessions WHERE sid = $1`, sid))
}

const threePIDSessionColumns = `sid, client_secret, medium, address, token_hash, send_attempt, next_link, created_ts, validated_ts`

func (s *Store) scanThreePIDSession(row *sql.Row) (*ThreePIDSession, error) {
	var t ThreePIDSession
	err := row.Scan(&t.SID, &t.ClientSecret, &t.Medium, &t.Address, &t.TokenHash, &t.SendAttempt, &t.NextLink, &t.CreatedTS, &t.ValidatedTS)
	if err != nil {
		return nil, notFound(err, "validation session")
	}
	return &t, nil
}

// PutThreePIDSession creates the session, or gives an existing one of the
// same client secret and address a new token and send attempt. Sessions
// created before expiredBefore are dropped on the way.
func (s *Store) PutThreePIDSession(ctx context.Context, t ThreePIDSession, expiredBefore int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM threepid_sessions WHERE created_ts < $1`, expiredBefore); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE threepid_sessions SET token_hash = $1, send_attempt = $2, next_link = $3
			WHERE sid = $4`, t.TokenHash, t.SendAttempt, t.NextLink, t.SID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO threepid_sessions (`+threePIDSessionColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.SID, t.ClientSecret, t.Medium, t.Address, t.TokenHash, t.SendAttempt, t.NextLink, t.CreatedTS, t.ValidatedTS)
		return err
	})
}

// ValidateThreePIDSession marks the session validated at ts.
func (s *Store) ValidateThreePIDSession(ctx context.Context, sid string, ts int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE threepid_sessions SET validated_ts = $1 WHERE sid = $2 AND validated_ts = 0`, ts, sid)
		return err
	})
}

// deleteThreePIDs unbinds every address of the user (deactivation).
func deleteThreePIDs(ctx context.Context, tx *sql.Tx, userID string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM threepids WHERE user_id = $1`, userID)
	return err
}
