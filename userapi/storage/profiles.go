package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxProfileSize is the spec's limit on a whole profile as JSON.
const MaxProfileSize = 64 * 1024

// ErrProfileTooLarge: the change would make the profile exceed
// MaxProfileSize.
var ErrProfileTooLarge = errors.New("profile too large")

// Profile is a row of profiles; empty strings mean "not set".
type Profile struct {
	DisplayName string
	AvatarURL   string
	// Fields are the other fields (m.tz, custom ones), each value the
	// JSON the client set.
	Fields map[string]json.RawMessage
}

// Size is the length of the profile as the JSON object GET /profile
// returns.
func (p *Profile) Size() int {
	whole := make(map[string]any, len(p.Fields)+2)
	for k, v := range p.Fields {
		whole[k] = v
	}
	if p.DisplayName != "" {
		whole["displayname"] = p.DisplayName
	}
	if p.AvatarURL != "" {
		whole["avatar_url"] = p.AvatarURL
	}
	b, err := json.Marshal(whole)
	if err != nil {
		// Only invalid RawMessage values get here, and those are never stored.
		return MaxProfileSize + 1
	}
	return len(b)
}

// Profile returns the user's profile, ErrNotFound if there is no account.
func (s *Store) Profile(ctx context.Context, userID string) (*Profile, error) {
	return readProfile(ctx, s.db.Read.QueryRowContext(ctx,
		`SELECT displayname, avatar_url, fields FROM profiles WHERE user_id = $1`, userID), userID)
}

func readProfile(ctx context.Context, row *sql.Row, userID string) (*Profile, error) {
	var p Profile
	var fields string
	if err := row.Scan(&p.DisplayName, &p.AvatarURL, &fields); err != nil {
		return nil, notFound(err, "profile of "+userID)
	}
	if err := json.Unmarshal([]byte(fields), &p.Fields); err != nil {
		return nil, fmt.Errorf("profile fields of %s: %w", userID, err)
	}
	if len(p.Fields) == 0 {
		p.Fields = nil
	}
	return &p, nil
}

// SetProfile changes the fields that are not nil ("" clears one) and
// returns the profile as it is now.
func (s *Store) SetProfile(ctx context.Context, userID string, displayName, avatarURL *string) (*Profile, error) {
	return s.UpdateProfile(ctx, userID, func(p *Profile) {
		if displayName != nil {
			p.DisplayName = *displayName
		}
		if avatarURL != nil {
			p.AvatarURL = *avatarURL
		}
	})
}

// UpdateProfile reads the profile, lets change modify it and stores the
// result, unless it is larger than MaxProfileSize (ErrProfileTooLarge).
// It returns the profile as it is now.
func (s *Store) UpdateProfile(ctx context.Context, userID string, change func(*Profile)) (*Profile, error) {
	var out *Profile
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		// Lock the row first (a no-op on SQLite, whose writes are serial)
		// so that a concurrent change from another process is not lost
		// between the read and the write.
		res, err := tx.ExecContext(ctx, `UPDATE profiles SET fields = fields WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("profile of %s: %w", userID, ErrNotFound)
		}
		p, err := readProfile(ctx, tx.QueryRowContext(ctx,
			`SELECT displayname, avatar_url, fields FROM profiles WHERE user_id = $1`, userID), userID)
		if err != nil {
			return err
		}
		oldName := p.DisplayName
		change(p)
		if p.Size() > MaxProfileSize {
			return ErrProfileTooLarge
		}
		fields, err := json.Marshal(p.Fields)
		if err != nil {
			return err
		}
		if p.Fields == nil {
			fields = []byte("{}")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE profiles SET displayname = $1, avatar_url = $2, fields = $3 WHERE user_id = $4`,
			p.DisplayName, p.AvatarURL, string(fields), userID); err != nil {
			return err
		}
		out = p
		if p.DisplayName == oldName {
			return nil
		}
		return updateSearchText(ctx, tx, userID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
