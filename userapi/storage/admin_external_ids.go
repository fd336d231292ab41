package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrExternalIDInUse is an external id linked to another account.
var ErrExternalIDInUse = errors.New("external id linked to another account")

// SetExternalIDs replaces the user's links to identity providers with ids
// (the admin API's PUT /v2/users); ErrExternalIDInUse when one of them
// belongs to another account, which then changes nothing.
func (s *Store) SetExternalIDs(ctx context.Context, userID string, ids []ExternalID) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		for _, e := range ids {
			var owner string
			err := tx.QueryRowContext(ctx, `SELECT user_id FROM user_external_ids WHERE auth_provider = $1 AND external_id = $2`,
				e.AuthProvider, e.ExternalID).Scan(&owner)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if err == nil && owner != userID {
				return fmt.Errorf("%s %s: %w", e.AuthProvider, e.ExternalID, ErrExternalIDInUse)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_external_ids WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, e := range ids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO user_external_ids (auth_provider, external_id, user_id) VALUES ($1, $2, $3)
				ON CONFLICT (auth_provider, external_id) DO NOTHING`, e.AuthProvider, e.ExternalID, userID); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetThreePIDs replaces the user's bound addresses with tps (the admin
// API's PUT /v2/users; an address kept keeps its times); ErrExists when
// one is bound to another account, which then changes nothing.
func (s *Store) SetThreePIDs(ctx context.Context, userID string, tps []ThreePID) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		keep := map[[2]string]bool{}
		for _, t := range tps {
			keep[[2]string{t.Medium, t.Address}] = true
		}
		rows, err := tx.QueryContext(ctx, `SELECT medium, address FROM threepids WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		var drop [][2]string
		for rows.Next() {
			var k [2]string
			if err := rows.Scan(&k[0], &k[1]); err != nil {
				rows.Close()
				return err
			}
			if !keep[k] {
				drop = append(drop, k)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, k := range drop {
			if _, err := tx.ExecContext(ctx, `DELETE FROM threepids WHERE user_id = $1 AND medium = $2 AND address = $3`,
				userID, k[0], k[1]); err != nil {
				return err
			}
		}
		for _, t := range tps {
			t.UserID = userID
			if err := addThreePID(ctx, tx, t); err != nil {
				return err
			}
		}
		return nil
	})
}
