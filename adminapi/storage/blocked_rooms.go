package storage

import (
	"context"
	"database/sql"
	"errors"
)

// BlockRoom blocks (block) or unblocks a room; blocking a blocked room
// keeps who blocked it first.
func (s *Store) BlockRoom(ctx context.Context, roomID, by string, ts int64, block bool) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if !block {
			_, err := tx.ExecContext(ctx, `DELETE FROM admin_blocked_rooms WHERE room_id = $1`, roomID)
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_blocked_rooms (room_id, blocked_by, blocked_ts) VALUES ($1, $2, $3)
			ON CONFLICT (room_id) DO NOTHING`, roomID, by, ts)
		return err
	})
}

// RoomBlock tells whether the room is blocked and by whom.
func (s *Store) RoomBlock(ctx context.Context, roomID string) (by string, blocked bool, err error) {
	err = s.db.Read.QueryRowContext(ctx, `SELECT blocked_by FROM admin_blocked_rooms WHERE room_id = $1`, roomID).Scan(&by)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return by, err == nil, err
}
