package storage

import (
	"context"
	"database/sql"
	"fmt"
)

// erasedRows are what an erasure (deactivation with erase: true) removes
// of an account besides what every deactivation removes (password,
// devices with their keys and pushers, e-mail addresses): what the user
// said about themselves and kept on the server for their own use. What
// stays, and why, is in docs/data-protection.md and every export of an
// erased account (userexport/erasure.go).
var erasedRows = []struct{ what, query string }{
	{"profile", `UPDATE profiles SET displayname = '', avatar_url = '', fields = '{}' WHERE user_id = $1`},
	{"account_data", `DELETE FROM account_data WHERE user_id = $1`},
	{"filters", `DELETE FROM filters WHERE user_id = $1`},
	{"key_backup_keys", `DELETE FROM key_backup_keys WHERE user_id = $1`},
	{"key_backup_versions", `DELETE FROM key_backup_versions WHERE user_id = $1`},
	{"cross_signing_keys", `DELETE FROM cross_signing_keys WHERE user_id = $1`},
	{"key_signatures", `DELETE FROM key_signatures WHERE signer_user_id = $1`},
	{"openid_tokens", `DELETE FROM openid_tokens WHERE user_id = $1`},
	{"login_tokens", `DELETE FROM login_tokens WHERE user_id = $1`},
	{"user_external_ids", `DELETE FROM user_external_ids WHERE user_id = $1`},
	{"ratelimit_override", `DELETE FROM ratelimit_override WHERE user_id = $1`},
}

// EraseData removes an erased account's own data, in one transaction,
// and says how many rows of each kind went.
func (s *Store) EraseData(ctx context.Context, userID string) (map[string]int64, error) {
	var removed map[string]int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		removed = map[string]int64{}
		for _, r := range erasedRows {
			res, err := tx.ExecContext(ctx, r.query, userID)
			if err != nil {
				return fmt.Errorf("erase %s: %w", r.what, err)
			}
			if n, err := res.RowsAffected(); err == nil && n > 0 {
				removed[r.what] = n
			}
		}
		return nil
	})
	return removed, err
}
