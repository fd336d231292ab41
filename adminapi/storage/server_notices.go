package storage

import (
	"context"
	"database/sql"
	"errors"
)

// NoticeRoom is the user's server notices room, "" for none yet.
func (s *Store) NoticeRoom(ctx context.Context, userID string) (string, error) {
	var roomID string
	err := s.db.Read.QueryRowContext(ctx, `SELECT room_id FROM admin_notice_rooms WHERE user_id = $1`, userID).Scan(&roomID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return roomID, err
}

// SetNoticeRoom records the user's (new) server notices room.
func (s *Store) SetNoticeRoom(ctx context.Context, userID, roomID string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_notice_rooms (user_id, room_id) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET room_id = excluded.room_id`, userID, roomID)
		return err
	})
}

// NoticeTxn is the event an admin's transaction id sent, "" for none.
func (s *Store) NoticeTxn(ctx context.Context, admin, txnID string) (string, error) {
	var eventID string
	err := s.db.Read.QueryRowContext(ctx, `SELECT event_id FROM admin_notice_txns WHERE admin_user_id = $1 AND txn_id = $2`, admin, txnID).Scan(&eventID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return eventID, err
}

// SetNoticeTxn records the event an admin's transaction id sent.
func (s *Store) SetNoticeTxn(ctx context.Context, admin, txnID, eventID string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_notice_txns (admin_user_id, txn_id, event_id) VALUES ($1, $2, $3)
			ON CONFLICT (admin_user_id, txn_id) DO NOTHING`, admin, txnID, eventID)
		return err
	})
}
