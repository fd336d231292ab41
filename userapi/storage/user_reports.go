package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Reports of users (POST /users/{userId}/report) are the rows of reports
// with neither a room nor an event.
const userReportCond = ` FROM reports WHERE event_id = '' AND room_id = '' AND user_id <> ''`

// UserReportQuery selects reports of users for the admin API: reporters
// and reported users whose ids contain Reporter and Target, oldest first
// when Forward.
type UserReportQuery struct {
	Reporter, Target string
	Forward          bool
	Offset, Limit    int
}

// UserReports returns one page of the reports of users and how many
// match.
func (s *Store) UserReports(ctx context.Context, q UserReportQuery) ([]Report, int, error) {
	cond := userReportCond
	var args []any
	if q.Reporter != "" {
		args = append(args, "%"+sqlutil.LikeEscape(q.Reporter)+"%")
		cond += ` AND reporter LIKE $` + strconv.Itoa(len(args)) + ` ESCAPE '\'`
	}
	if q.Target != "" {
		args = append(args, "%"+sqlutil.LikeEscape(q.Target)+"%")
		cond += ` AND user_id LIKE $` + strconv.Itoa(len(args)) + ` ESCAPE '\'`
	}
	return s.reportsPage(ctx, cond, args, q.Forward, q.Limit, q.Offset)
}

// UserReport is one report of a user; ErrNotFound when there is none
// with the id (or it reports an event or a room).
func (s *Store) UserReport(ctx context.Context, id int64) (*Report, error) {
	r := Report{ID: id}
	err := s.db.Read.QueryRowContext(ctx, `SELECT reporter, room_id, event_id, user_id, reason, received_ts`+userReportCond+
		` AND report_id = $1`, id).Scan(&r.Reporter, &r.RoomID, &r.EventID, &r.UserID, &r.Reason, &r.ReceivedTS)
	if err != nil {
		return nil, notFound(err, "user report "+strconv.FormatInt(id, 10))
	}
	return &r, nil
}

// DeleteUserReport deletes a report of a user; ErrNotFound when there
// is none with the id.
func (s *Store) DeleteUserReport(ctx context.Context, id int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE`+userReportCond+` AND report_id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("user report %d: %w", id, ErrNotFound)
		}
		return nil
	})
}
