package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// UserRedaction is one run of the admin's redaction of a user's events.
type UserRedaction struct {
	ID, UserID, Admin, Status string
	// Failed is a JSON object of event id to error.
	Failed               string
	CreatedTS, UpdatedTS int64
}

// AddUserRedaction records a new task.
func (s *Store) AddUserRedaction(ctx context.Context, t UserRedaction) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_user_redactions (redact_id, user_id, admin_user_id, status, failed, created_ts, updated_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`, t.ID, t.UserID, t.Admin, t.Status, t.Failed, t.CreatedTS)
		return err
	})
}

// UpdateUserRedaction sets a task's status and failures.
func (s *Store) UpdateUserRedaction(ctx context.Context, id, status, failed string, ts int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE admin_user_redactions SET status = $1, failed = $2, updated_ts = $3 WHERE redact_id = $4`,
			status, failed, ts, id)
		return err
	})
}

// UserRedactionByID reads a task; nil when there is none.
func (s *Store) UserRedactionByID(ctx context.Context, id string) (*UserRedaction, error) {
	t := UserRedaction{ID: id}
	err := s.db.Read.QueryRowContext(ctx, `SELECT user_id, admin_user_id, status, failed, created_ts, updated_ts
		FROM admin_user_redactions WHERE redact_id = $1`, id).Scan(&t.UserID, &t.Admin, &t.Status, &t.Failed, &t.CreatedTS, &t.UpdatedTS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redaction %s: %w", id, err)
	}
	return &t, nil
}
