package retention

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrLeaseLost means another process took the job's lease: this one was
// too slow to renew it, and must stop the round.
var ErrLeaseLost = errors.New("retention job lease lost")

// store is the retention_jobs table.
type store struct{ db *sqlutil.DB }

func openStore(ctx context.Context, db *sqlutil.DB) (*store, error) {
	if err := db.Migrate(ctx, "retention", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &store{db: db}, nil
}

// claim is a job's lease, taken.
type claim struct {
	// Started is when the round began: now for a new round, earlier for
	// one resumed after a crash.
	Started  time.Time
	Progress string
}

// claim takes the lease of a job that is due at now and whose lease is
// free or owner's; ok is false when it is not due or another process
// holds it.
func (s *store) claim(ctx context.Context, name, owner string, now time.Time, lease time.Duration) (c claim, ok bool, err error) {
	nowMs := now.UnixMilli()
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO retention_jobs (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE retention_jobs SET owner = $1, lease_until = $2,
			round_started = CASE WHEN round_started = 0 THEN $3 ELSE round_started END
			WHERE name = $4 AND next_run <= $3 AND (owner = $1 OR lease_until <= $3)`,
			owner, now.Add(lease).UnixMilli(), nowMs, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		var started int64
		if err := tx.QueryRowContext(ctx, `SELECT round_started, progress FROM retention_jobs WHERE name = $1`, name).Scan(&started, &c.Progress); err != nil {
			return err
		}
		c.Started, ok = time.UnixMilli(started), true
		return nil
	})
	if err != nil {
		return claim{}, false, fmt.Errorf("claim retention job %s: %w", name, err)
	}
	return c, ok, nil
}

// save stores a round's progress and renews the lease; ErrLeaseLost if
// owner no longer holds it.
func (s *store) save(ctx context.Context, name, owner, progress string, leaseUntil time.Time) error {
	return s.ownerWrite(ctx, name, owner, `UPDATE retention_jobs SET progress = $1, lease_until = $2 WHERE name = $3 AND owner = $4`,
		progress, leaseUntil.UnixMilli(), name, owner)
}

// finish ends a round: the progress is cleared, the lease freed and the
// job due again at next.
func (s *store) finish(ctx context.Context, name, owner string, now, next time.Time) error {
	return s.ownerWrite(ctx, name, owner, `UPDATE retention_jobs SET progress = '', round_started = 0, owner = '', lease_until = 0,
		next_run = $1, last_finished = $2 WHERE name = $3 AND owner = $4`, next.UnixMilli(), now.UnixMilli(), name, owner)
}

// release gives the lease up, keeping the progress for whoever comes
// next (a round interrupted by a failure or a stop).
func (s *store) release(ctx context.Context, name, owner string) error {
	return s.ownerWrite(ctx, name, owner, `UPDATE retention_jobs SET owner = '', lease_until = 0 WHERE name = $1 AND owner = $2`, name, owner)
}

func (s *store) ownerWrite(ctx context.Context, name, owner, query string, args ...any) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("retention job %s: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("retention job %s: %w", name, ErrLeaseLost)
		}
		return nil
	})
}

// JobState is a job's row, for tests and the logs.
type JobState struct {
	Owner                string
	LeaseUntil, NextRun  time.Time
	Progress             string
	RoundStarted, LastOK time.Time
}

func (s *store) state(ctx context.Context, name string) (*JobState, error) {
	var st JobState
	var lease, next, started, last int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT owner, lease_until, next_run, progress, round_started, last_finished FROM retention_jobs WHERE name = $1`, name).
		Scan(&st.Owner, &lease, &next, &st.Progress, &started, &last)
	if err != nil {
		return nil, err
	}
	st.LeaseUntil, st.NextRun, st.RoundStarted, st.LastOK = time.UnixMilli(lease), time.UnixMilli(next), time.UnixMilli(started), time.UnixMilli(last)
	return &st, nil
}
