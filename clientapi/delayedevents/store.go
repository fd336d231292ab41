package delayedevents

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Statuses of a delayed event. Everything but scheduled is final.
const (
	StatusScheduled = "scheduled"
	StatusSent      = "sent"
	StatusCancelled = "cancelled"
	StatusFailed    = "failed"
)

// Store keeps the delayed events in the shared database, so that every
// client API process sees them and they outlive restarts.
type Store struct {
	db *sqlutil.DB
}

// OpenStore migrates the schema and returns the store.
func OpenStore(ctx context.Context, db *sqlutil.DB) (*Store, error) {
	if err := db.Migrate(ctx, "delayedevents", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Event is one delayed event as stored.
type Event struct {
	DelayID  string
	UserID   string
	DeviceID string
	// Txn is the scheduling request's transaction, "" without one.
	Txn       string
	RoomID    string
	Type      string
	StateKey  *string
	Content   json.RawMessage
	DelayMS   int64
	Scheduled int64 // when scheduled or last restarted, ms
	SendTS    int64 // Scheduled + DelayMS
	Status    string
	// Claimed is set while a process sends it.
	Claimed  bool
	Attempts int
	EventID  string
	// Error is the Matrix error that made it fail, as on the wire.
	Error       json.RawMessage
	FinalisedTS int64
}

const eventColumns = `delay_id, user_id, device_id, txn, room_id, event_type, state_key, content, delay_ms, scheduled_ts,
	send_ts, status, claimed_by IS NOT NULL, attempts, event_id, error, finalised_ts`

type scanner interface{ Scan(...any) error }

func scanEvent(row scanner) (*Event, error) {
	var (
		e                 Event
		stateKey, eventID sql.NullString
		errJSON           sql.NullString
		finalised         sql.NullInt64
		content           string
	)
	if err := row.Scan(&e.DelayID, &e.UserID, &e.DeviceID, &e.Txn, &e.RoomID, &e.Type, &stateKey, &content, &e.DelayMS,
		&e.Scheduled, &e.SendTS, &e.Status, &e.Claimed, &e.Attempts, &eventID, &errJSON, &finalised); err != nil {
		return nil, err
	}
	if stateKey.Valid {
		e.StateKey = &stateKey.String
	}
	e.Content = json.RawMessage(content)
	e.EventID = eventID.String
	if errJSON.Valid && errJSON.String != "" {
		e.Error = json.RawMessage(errJSON.String)
	}
	e.FinalisedTS = finalised.Int64
	return &e, nil
}

func scanEvents(rows *sql.Rows, err error) ([]*Event, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// errTooMany carries when the user's next delayed event is due, for
// Retry-After.
type errTooMany struct{ nextSendTS int64 }

func (e *errTooMany) Error() string { return "too many delayed events scheduled" }

// Insert stores e as scheduled unless the user has limit scheduled
// already (*errTooMany). A retried request (the same Txn of the same
// device) returns the delay id it got the first time and stores nothing.
func (s *Store) Insert(ctx context.Context, e *Event, limit int) (delayID string, err error) {
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if e.Txn != "" {
			err := tx.QueryRowContext(ctx, `SELECT delay_id FROM delayed_events WHERE user_id = $1 AND device_id = $2 AND txn = $3`,
				e.UserID, e.DeviceID, e.Txn).Scan(&delayID)
			if err == nil {
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM delayed_events WHERE user_id = $1 AND status = 'scheduled'`,
			e.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			// The send time after which the user is back under the limit.
			var next int64
			if err := tx.QueryRowContext(ctx, `SELECT send_ts FROM delayed_events WHERE user_id = $1 AND status = 'scheduled'
				ORDER BY send_ts LIMIT 1 OFFSET $2`, e.UserID, n-limit).Scan(&next); err != nil {
				return err
			}
			return &errTooMany{nextSendTS: next}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO delayed_events (delay_id, user_id, device_id, txn, room_id, event_type, state_key,
			content, delay_ms, scheduled_ts, send_ts, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'scheduled')`,
			e.DelayID, e.UserID, e.DeviceID, e.Txn, e.RoomID, e.Type, e.StateKey, string(e.Content), e.DelayMS, e.Scheduled, e.SendTS)
		delayID = e.DelayID
		return err
	})
	return delayID, err
}

// Get returns the user's delayed event, or ErrNotFound (also when it is
// another user's).
func (s *Store) Get(ctx context.Context, user, delayID string) (*Event, error) {
	e, err := scanEvent(s.db.Read.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM delayed_events WHERE delay_id = $1 AND user_id = $2`,
		delayID, user))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return e, err
}

// List returns the user's delayed events in the given statuses: the
// scheduled ones in the order they are due, finalised ones newest first.
func (s *Store) List(ctx context.Context, user string, statuses []string, delayIDs []string) ([]*Event, error) {
	args := []any{user}
	q := `SELECT ` + eventColumns + ` FROM delayed_events WHERE user_id = $1 AND status IN (` + sqlutil.InList(2, len(statuses)) + `)`
	for _, st := range statuses {
		args = append(args, st)
	}
	if len(delayIDs) > 0 {
		q += ` AND delay_id IN (` + sqlutil.InList(len(args)+1, len(delayIDs)) + `)`
		for _, id := range delayIDs {
			args = append(args, id)
		}
	}
	q += ` ORDER BY CASE WHEN status = 'scheduled' THEN 0 ELSE 1 END, send_ts, finalised_ts DESC LIMIT 1000`
	return scanEvents(s.db.Read.QueryContext(ctx, q, args...))
}

// free is the condition of a scheduled row nobody is sending.
const free = `status = 'scheduled' AND claimed_by IS NULL`

// Cancel finalises the user's scheduled event as cancelled.
func (s *Store) Cancel(ctx context.Context, user, delayID string, now int64) error {
	return s.update(ctx, user, delayID, `UPDATE delayed_events SET status = 'cancelled', finalised_ts = $1, claim_until = NULL
		WHERE delay_id = $2 AND user_id = $3 AND `+free, now)
}

// Restart moves the user's scheduled event to its delay from now.
func (s *Store) Restart(ctx context.Context, user, delayID string, now int64) error {
	return s.update(ctx, user, delayID, `UPDATE delayed_events SET scheduled_ts = $1, send_ts = $1 + delay_ms, claim_until = NULL, attempts = 0
		WHERE delay_id = $2 AND user_id = $3 AND `+free, now)
}

// update runs a statement on one free scheduled row, with now, the
// delay id and the user as $1, $2, $3 (SQLite numbers parameters in the
// order they first appear, whatever their digits say); when it changes
// none, the row's state says why (errFinal with the row, ErrNotFound).
func (s *Store) update(ctx context.Context, user, delayID, stmt string, now int64) error {
	var changed int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, stmt, now, delayID, user)
		if err != nil {
			return err
		}
		changed, err = res.RowsAffected()
		return err
	})
	if err != nil || changed == 1 {
		return err
	}
	e, err := s.Get(ctx, user, delayID)
	if err != nil {
		return err
	}
	return &errFinal{event: e}
}

// errFinal says the event is no longer free to change: finalised, or
// being sent (Claimed with status scheduled).
type errFinal struct{ event *Event }

func (e *errFinal) Error() string {
	return "delayed event " + e.event.DelayID + " is " + e.event.Status
}

// Claim takes up to limit events due at now (or the one delayID of user,
// due or not, when delayID is set) for owner until claimUntil. Each row
// is claimed by one process only, however many ask at once: the update
// repeats the condition the select found it by.
func (s *Store) Claim(ctx context.Context, owner string, now, claimUntil int64, limit int, user, delayID string) ([]*Event, error) {
	var claimed []*Event
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		claimed = claimed[:0]
		// Due: nobody sends it and no retry wait runs, or its sender's
		// claim ran out. Asked for by its owner: any wait is over.
		cond := func(now string) string {
			if delayID != "" {
				return `status = 'scheduled' AND (claimed_by IS NULL OR claim_until <= ` + now + `)`
			}
			return `status = 'scheduled' AND (claim_until IS NULL OR claim_until <= ` + now + `)`
		}
		var ids []string
		var err error
		if delayID != "" {
			ids, err = sqlutil.Strings(tx.QueryContext(ctx, `SELECT delay_id FROM delayed_events WHERE `+cond("$1")+` AND delay_id = $2 AND user_id = $3`,
				now, delayID, user))
		} else {
			ids, err = sqlutil.Strings(tx.QueryContext(ctx, `SELECT delay_id FROM delayed_events WHERE `+cond("$1")+` AND send_ts <= $1
				ORDER BY send_ts LIMIT $2`, now, limit))
		}
		if err != nil {
			return err
		}
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, `UPDATE delayed_events SET claimed_by = $1, claim_until = $2, attempts = attempts + 1
				WHERE delay_id = $3 AND `+cond("$4"), owner, claimUntil, id, now)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue
			}
			e, err := scanEvent(tx.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM delayed_events WHERE delay_id = $1`, id))
			if err != nil {
				return err
			}
			claimed = append(claimed, e)
		}
		return nil
	})
	return claimed, err
}

// Finish finalises an event owner claimed: sent with eventID, or failed
// with errJSON. A claim lost meanwhile (owner too slow) changes nothing.
func (s *Store) Finish(ctx context.Context, owner, delayID, status, eventID string, errJSON []byte, now int64) error {
	var ev, er any
	if eventID != "" {
		ev = eventID
	}
	if errJSON != nil {
		er = string(errJSON)
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE delayed_events SET status = $1, event_id = $2, error = $3, finalised_ts = $4,
			claimed_by = NULL, claim_until = NULL WHERE delay_id = $5 AND claimed_by = $6`, status, ev, er, now, delayID, owner)
		return err
	})
}

// Release gives a claimed event back, to be tried again from retryAt
// (a failure that may pass) or at once (retryAt 0).
func (s *Store) Release(ctx context.Context, owner, delayID string, retryAt int64) error {
	var until any
	if retryAt > 0 {
		until = retryAt
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE delayed_events SET claimed_by = NULL, claim_until = $1 WHERE delay_id = $2 AND claimed_by = $3`,
			until, delayID, owner)
		return err
	})
}

// NextDue is when the next scheduled event is due (a claim or a retry
// wait counting), or 0 when none is scheduled.
func (s *Store) NextDue(ctx context.Context) (int64, error) {
	var next sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT MIN(CASE WHEN claim_until IS NOT NULL AND claim_until > send_ts THEN claim_until ELSE send_ts END)
		FROM delayed_events WHERE status = 'scheduled'`).Scan(&next)
	return next.Int64, err
}

// CancelOverwritten cancels the scheduled, free events of other users
// than sender that would set the state (roomID, evType, stateKey): state
// set by someone else since they were scheduled is not theirs to
// overwrite. It returns how many it cancelled.
func (s *Store) CancelOverwritten(ctx context.Context, roomID, evType, stateKey, sender string, now int64) (int64, error) {
	// Almost every state event has no delayed event waiting on its key:
	// a read spares those the write.
	var one int
	err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM delayed_events WHERE room_id = $1 AND event_type = $2 AND state_key = $3
		AND user_id <> $4 AND `+free+` LIMIT 1`, roomID, evType, stateKey, sender).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE delayed_events SET status = 'cancelled', finalised_ts = $1, claim_until = NULL
			WHERE room_id = $2 AND event_type = $3 AND state_key = $4 AND user_id <> $5 AND `+free, now, roomID, evType, stateKey, sender)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// Prune deletes finalised events older than before, and the oldest of
// any user with more than keep of them.
func (s *Store) Prune(ctx context.Context, before int64, keep int) error {
	users, err := sqlutil.Strings(s.db.Read.QueryContext(ctx, `SELECT user_id FROM delayed_events WHERE status <> 'scheduled'
		GROUP BY user_id HAVING COUNT(*) > $1`, keep))
	if err != nil {
		return fmt.Errorf("delayed events to prune: %w", err)
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM delayed_events WHERE status <> 'scheduled' AND finalised_ts < $1`, before); err != nil {
			return err
		}
		for _, u := range users {
			if _, err := tx.ExecContext(ctx, `DELETE FROM delayed_events WHERE user_id = $1 AND status <> 'scheduled' AND delay_id NOT IN
				(SELECT delay_id FROM delayed_events WHERE user_id = $1 AND status <> 'scheduled' ORDER BY finalised_ts DESC LIMIT $2)`, u, keep); err != nil {
				return err
			}
		}
		return nil
	})
}
