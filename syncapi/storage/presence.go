package storage

import (
	"context"
	"database/sql"
	"errors"
)

// Presence is one user's presence.
type Presence struct {
	UserID       string
	Presence     string
	StatusMsg    *string
	LastActiveTS int64
	StreamPos    int64
}

// PutPresence stores a user's presence and returns its stream position.
func (s *Store) PutPresence(ctx context.Context, p Presence) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRow(`SELECT COALESCE(MAX(stream_pos), 0) + 1 FROM presence`).Scan(&pos); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO presence (user_id, presence, status_msg, last_active_ts, stream_pos) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id) DO UPDATE SET presence = excluded.presence, status_msg = excluded.status_msg,
			last_active_ts = excluded.last_active_ts, stream_pos = excluded.stream_pos`,
			p.UserID, p.Presence, p.StatusMsg, p.LastActiveTS, pos)
		return err
	})
	return pos, err
}

// GetPresence reads one user's presence; ok is false if none is stored.
func (s *Store) GetPresence(ctx context.Context, userID string) (p Presence, ok bool, err error) {
	var msg sql.NullString
	err = s.db.Read.QueryRowContext(ctx, `SELECT user_id, presence, status_msg, last_active_ts, stream_pos FROM presence WHERE user_id = $1`, userID).
		Scan(&p.UserID, &p.Presence, &msg, &p.LastActiveTS, &p.StreamPos)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if msg.Valid {
		p.StatusMsg = &msg.String
	}
	return p, err == nil, err
}

// PresenceSince returns presence changes with from < pos <= to.
func (s *Store) PresenceSince(ctx context.Context, from, to int64) ([]Presence, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, presence, status_msg, last_active_ts, stream_pos FROM presence
		WHERE stream_pos > $1 AND stream_pos <= $2`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Presence
	for rows.Next() {
		var p Presence
		var msg sql.NullString
		if err := rows.Scan(&p.UserID, &p.Presence, &msg, &p.LastActiveTS, &p.StreamPos); err != nil {
			return nil, err
		}
		if msg.Valid {
			p.StatusMsg = &msg.String
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// MaxPresencePos is the newest presence position.
func (s *Store) MaxPresencePos(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM presence`).Scan(&pos)
	return pos, err
}
