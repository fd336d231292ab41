package storage

import "context"

// SetShadowBanned sets the account's shadow ban and returns the hashes
// of its access tokens, whose cached devices carry the flag.
func (s *Store) SetShadowBanned(ctx context.Context, userID string, banned bool) ([][]byte, error) {
	return s.setAccountFlag(ctx, `UPDATE accounts SET shadow_banned = $1 WHERE user_id = $2`, userID, banned)
}
