package storage

import (
	"context"
	"database/sql"
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
