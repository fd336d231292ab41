package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// PutFilter stores a filter under the user's next filter id.
func (s *Store) PutFilter(ctx context.Context, userID string, filter []byte) (int64, error) {
	var id int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(filter_id), -1) + 1 FROM filters WHERE user_id = $1`, userID).Scan(&id); err != nil {
			return fmt.Errorf("next filter id: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO filters (user_id, filter_id, filter) VALUES ($1, $2, $3)`, userID, id, string(filter))
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// Filter returns a stored filter.
func (s *Store) Filter(ctx context.Context, userID string, filterID int64) ([]byte, error) {
	var filter string
	err := s.db.Read.QueryRowContext(ctx, `SELECT filter FROM filters WHERE user_id = $1 AND filter_id = $2`, userID, filterID).Scan(&filter)
	if err != nil {
		return nil, notFound(err, "filter "+strconv.FormatInt(filterID, 10))
	}
	return []byte(filter), nil
}
