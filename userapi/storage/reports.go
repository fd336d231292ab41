package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Report is a row of reports; of RoomID, EventID and UserID, the ones the
// report is about are set.
type Report struct {
	ID                                int64
	Reporter, RoomID, EventID, UserID string
	Reason                            string
	ReceivedTS                        int64
}

// AddReport stores a report.
func (s *Store) AddReport(ctx context.Context, r Report) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO reports (reporter, room_id, event_id, user_id, reason, received_ts)
			VALUES ($1, $2, $3, $4, $5, $6)`, r.Reporter, r.RoomID, r.EventID, r.UserID, r.Reason, r.ReceivedTS)
		return err
	})
}

// Reports lists reports newest first, those with ids below before (0 for
// the newest), at most limit.
func (s *Store) Reports(ctx context.Context, before int64, limit int) ([]Report, error) {
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT report_id, reporter, room_id, event_id, user_id, reason, received_ts
		FROM reports WHERE report_id < $1 ORDER BY report_id DESC LIMIT $2`, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		var r Report
		if err := rows.Scan(&r.ID, &r.Reporter, &r.RoomID, &r.EventID, &r.UserID, &r.Reason, &r.ReceivedTS); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// EventReportQuery selects event reports for the admin API (decision
// 0020): reporters and rooms whose ids contain Reporter and RoomID,
// oldest first when Forward.
type EventReportQuery struct {
	Reporter, RoomID string
	Forward          bool
	Offset, Limit    int
}

// EventReports returns one page of the reports of events and how many
// match.
func (s *Store) EventReports(ctx context.Context, q EventReportQuery) ([]Report, int, error) {
	cond := ` FROM reports WHERE event_id <> ''`
	var args []any
	if q.Reporter != "" {
		args = append(args, "%"+sqlutil.LikeEscape(q.Reporter)+"%")
		cond += ` AND reporter LIKE $` + strconv.Itoa(len(args)) + ` ESCAPE '\'`
	}
	if q.RoomID != "" {
		args = append(args, "%"+sqlutil.LikeEscape(q.RoomID)+"%")
		cond += ` AND room_id LIKE $` + strconv.Itoa(len(args)) + ` ESCAPE '\'`
	}
	return s.reportsPage(ctx, cond, args, q.Forward, q.Limit, q.Offset)
}

// reportsPage is one page of the reports cond (a FROM … WHERE clause
// with args) selects, by time received, and how many it selects.
func (s *Store) reportsPage(ctx context.Context, cond string, args []any, forward bool, limit, offset int) ([]Report, int, error) {
	var total int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*)`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	dir := " DESC"
	if forward {
		dir = " ASC"
	}
	args = append(args, limit, offset)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT report_id, reporter, room_id, event_id, user_id, reason, received_ts`+
		cond+` ORDER BY received_ts`+dir+`, report_id`+dir+
		` LIMIT $`+strconv.Itoa(len(args)-1)+` OFFSET $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []Report{}
	for rows.Next() {
		var r Report
		if err := rows.Scan(&r.ID, &r.Reporter, &r.RoomID, &r.EventID, &r.UserID, &r.Reason, &r.ReceivedTS); err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// EventReport is one report of an event; ErrNotFound when there is none
// with the id (or it reports a room or a user).
func (s *Store) EventReport(ctx context.Context, id int64) (*Report, error) {
	r := Report{ID: id}
	err := s.db.Read.QueryRowContext(ctx, `SELECT reporter, room_id, event_id, user_id, reason, received_ts
		FROM reports WHERE report_id = $1 AND event_id <> ''`, id).
		Scan(&r.Reporter, &r.RoomID, &r.EventID, &r.UserID, &r.Reason, &r.ReceivedTS)
	if err != nil {
		return nil, notFound(err, "event report "+strconv.FormatInt(id, 10))
	}
	return &r, nil
}

// DeleteEventReport deletes a report of an event; ErrNotFound when there
// is none with the id.
func (s *Store) DeleteEventReport(ctx context.Context, id int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM reports WHERE report_id = $1 AND event_id <> ''`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("event report %d: %w", id, ErrNotFound)
		}
		return nil
	})
}
