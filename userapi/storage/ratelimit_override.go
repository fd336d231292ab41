package storage

import (
	"context"
	"database/sql"
	"errors"
)

// RateOverride is an admin's per-user rate limit; MessagesPerSecond 0
// means none.
type RateOverride struct {
	MessagesPerSecond int64 `json:"messages_per_second"`
	BurstCount        int64 `json:"burst_count"`
}

// RateOverride is the user's override, nil when there is none.
func (s *Store) RateOverride(ctx context.Context, userID string) (*RateOverride, error) {
	var o RateOverride
	err := s.db.Read.QueryRowContext(ctx, `SELECT messages_per_second, burst_count FROM ratelimit_override WHERE user_id = $1`,
		userID).Scan(&o.MessagesPerSecond, &o.BurstCount)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// SetRateOverride sets (o nil: removes) the user's override and returns
// the hashes of the user's access tokens, whose cached devices carry it.
func (s *Store) SetRateOverride(ctx context.Context, userID string, o *RateOverride) ([][]byte, error) {
	var hashes [][]byte
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var err error
		if o == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM ratelimit_override WHERE user_id = $1`, userID)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO ratelimit_override (user_id, messages_per_second, burst_count) VALUES ($1, $2, $3)
				ON CONFLICT (user_id) DO UPDATE SET messages_per_second = excluded.messages_per_second, burst_count = excluded.burst_count`,
				userID, o.MessagesPerSecond, o.BurstCount)
		}
		if err != nil {
			return err
		}
		hashes, err = accountTokenHashes(ctx, tx, userID)
		return err
	})
	return hashes, err
}
