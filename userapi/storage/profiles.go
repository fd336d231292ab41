package storage

import (
	"context"
	"database/sql"
)

// Profile is a row of profiles; empty strings mean "not set".
type Profile struct {
	DisplayName string
	AvatarURL   string
}

// Profile returns the user's profile, ErrNotFound if there is no account.
func (s *Store) Profile(ctx context.Context, userID string) (*Profile, error) {
	var p Profile
	err := s.db.Read.QueryRowContext(ctx, `SELECT displayname, avatar_url FROM profiles WHERE user_id = $1`, userID).
		Scan(&p.DisplayName, &p.AvatarURL)
	if err != nil {
		return nil, notFound(err, "profile of "+userID)
	}
	return &p, nil
}

// SetProfile changes the fields that are not nil and returns the profile
// as it is now.
func (s *Store) SetProfile(ctx context.Context, userID string, displayName, avatarURL *string) (*Profile, error) {
	var p Profile
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		// COALESCE keeps a column when its parameter is NULL.
		err := tx.QueryRowContext(ctx, `UPDATE profiles SET
				displayname = COALESCE($1, displayname),
				avatar_url = COALESCE($2, avatar_url)
			WHERE user_id = $3 RETURNING displayname, avatar_url`,
			nullString(displayName), nullString(avatarURL), userID).Scan(&p.DisplayName, &p.AvatarURL)
		if err != nil {
			return notFound(err, "profile of "+userID)
		}
		return updateSearchText(ctx, tx, userID)
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}
