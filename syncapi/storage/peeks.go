package storage

import (
	"context"
	"database/sql"
)

// Peek is a device's peek into a room (MSC2753).
type Peek struct {
	RoomID    string
	Active    bool
	StreamPos int64
}

// SetPeek starts (active) or ends a device's peek into a room and returns
// its new stream position. Ending a peek that does not exist changes
// nothing and returns 0.
func (s *Store) SetPeek(ctx context.Context, userID, deviceID, roomID string, active bool) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if !active {
			var n int
			err := tx.QueryRow(`SELECT COUNT(*) FROM peeks WHERE user_id = $1 AND device_id = $2 AND room_id = $3 AND active`,
				userID, deviceID, roomID).Scan(&n)
			if err != nil || n == 0 {
				return err
			}
		}
		if err := tx.QueryRow(`SELECT COALESCE(MAX(stream_pos), 0) + 1 FROM peeks`).Scan(&pos); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO peeks (user_id, device_id, room_id, active, stream_pos) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, device_id, room_id) DO UPDATE SET active = excluded.active, stream_pos = excluded.stream_pos`,
			userID, deviceID, roomID, active, pos)
		return err
	})
	return pos, err
}

// PeeksOfDevice returns a device's peeks, ended ones included.
func (s *Store) PeeksOfDevice(ctx context.Context, userID, deviceID string) ([]Peek, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, active, stream_pos FROM peeks WHERE user_id = $1 AND device_id = $2`, userID, deviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Peek
	for rows.Next() {
		var p Peek
		if err := rows.Scan(&p.RoomID, &p.Active, &p.StreamPos); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
