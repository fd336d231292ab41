package storage

import (
	"context"
	"database/sql"
	"strings"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// updateSearchText refreshes the user's search_text after a change of the
// profile, in the same transaction.
func updateSearchText(ctx context.Context, tx *sql.Tx, userID string) error {
	var name string
	if err := tx.QueryRowContext(ctx, `SELECT displayname FROM profiles WHERE user_id = $1`, userID).Scan(&name); err != nil {
		return notFound(err, "profile of "+userID)
	}
	_, err := tx.ExecContext(ctx, `UPDATE profiles SET search_text = $1 WHERE user_id = $2`, strings.ToLower(userID+" "+name), userID)
	return err
}

// DirectoryEntry is a user found by SearchProfiles.
type DirectoryEntry struct {
	UserID, DisplayName, AvatarURL string
}

// SearchProfiles finds active, non-guest accounts of serverName whose user
// id or display name contains term (lower case), by user id, at most limit.
func (s *Store) SearchProfiles(ctx context.Context, serverName, term string, limit int) ([]DirectoryEntry, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT p.user_id, p.displayname, p.avatar_url FROM profiles p
		JOIN accounts a ON a.user_id = p.user_id
		WHERE p.search_text LIKE $1 ESCAPE '\' AND p.user_id LIKE $2 ESCAPE '\' AND NOT a.deactivated AND NOT a.is_guest
		ORDER BY p.user_id LIMIT $3`,
		"%"+sqlutil.LikeEscape(term)+"%", "%:"+sqlutil.LikeEscape(serverName), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DirectoryEntry
	for rows.Next() {
		var e DirectoryEntry
		if err := rows.Scan(&e.UserID, &e.DisplayName, &e.AvatarURL); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
