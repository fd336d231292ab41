package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ExternalID links a user at an identity provider to a local account.
type ExternalID struct {
	AuthProvider, ExternalID, UserID string
}

// AuthOrigin is the identity provider session a login came from; zero
// for logins with a password or a token of no provider session.
type AuthOrigin struct {
	Provider, Session string
}

// ExternalIDUser is the account linked to the external id; ErrNotFound
// if none.
func (s *Store) ExternalIDUser(ctx context.Context, provider, externalID string) (string, error) {
	var user string
	err := s.db.Read.QueryRowContext(ctx, `SELECT user_id FROM user_external_ids WHERE auth_provider = $1 AND external_id = $2`,
		provider, externalID).Scan(&user)
	return user, notFound(err, "external id")
}

// ExternalIDs lists the user's links, by provider.
func (s *Store) ExternalIDs(ctx context.Context, userID string) ([]ExternalID, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT auth_provider, external_id FROM user_external_ids WHERE user_id = $1
		ORDER BY auth_provider, external_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ExternalID
	for rows.Next() {
		e := ExternalID{UserID: userID}
		if err := rows.Scan(&e.AuthProvider, &e.ExternalID); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// LinkExternalID links the external id to an active account. ErrExists
// when it is linked to another account, ErrNotFound when the account is
// missing or deactivated; linking it to its account again changes nothing.
func (s *Store) LinkExternalID(ctx context.Context, e ExternalID) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE user_id = $1 AND deactivated = FALSE`, e.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("account %s: %w", e.UserID, ErrNotFound)
		}
		return linkExternalID(ctx, tx, e)
	})
}

func linkExternalID(ctx context.Context, tx *sql.Tx, e ExternalID) error {
	var owner string
	err := tx.QueryRowContext(ctx, `SELECT user_id FROM user_external_ids WHERE auth_provider = $1 AND external_id = $2`,
		e.AuthProvider, e.ExternalID).Scan(&owner)
	switch {
	case err == nil && owner == e.UserID:
		return nil
	case err == nil:
		return fmt.Errorf("external id %s/%s: %w", e.AuthProvider, e.ExternalID, ErrExists)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO user_external_ids (auth_provider, external_id, user_id) VALUES ($1, $2, $3)`,
		e.AuthProvider, e.ExternalID, e.UserID)
	return err
}

// CreateLinkedAccount creates an account (without a password or device)
// linked to an external id and, if email is not nil, bound to that
// address, all in one transaction: a first single sign-on either makes
// the whole account or nothing. ErrExists when the user id, the external
// id or the address is taken.
func (s *Store) CreateLinkedAccount(ctx context.Context, acc Account, displayName string, link ExternalID, email *ThreePID) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := insertAccount(ctx, tx, acc, displayName); err != nil {
			return err
		}
		if err := linkExternalID(ctx, tx, link); err != nil {
			return err
		}
		if email != nil {
			return addThreePID(ctx, tx, *email)
		}
		return nil
	})
}

// DeleteSSOSessions logs out the devices that logged in through the
// provider: those of one provider session if session is not "", and only
// the user's if userID is not "". At least one of the two must be given.
func (s *Store) DeleteSSOSessions(ctx context.Context, provider, session, userID string) ([]Revoked, error) {
	switch {
	case session != "" && userID != "":
		return s.deleteDevices(ctx, `auth_provider_id = $1 AND auth_provider_session_id = $2 AND user_id = $3`, provider, session, userID)
	case session != "":
		return s.deleteDevices(ctx, `auth_provider_id = $1 AND auth_provider_session_id = $2`, provider, session)
	case userID != "":
		return s.deleteDevices(ctx, `auth_provider_id = $1 AND user_id = $2`, provider, userID)
	}
	return nil, errors.New("DeleteSSOSessions: neither a session nor a user")
}

// emptyAsNull stores "" as NULL, for the columns that only single
// sign-on fills.
func emptyAsNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}
