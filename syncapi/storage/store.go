package storage

import (
	"context"
	"database/sql"
	"embed"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store reads and writes the sync API's tables.
type Store struct {
	db *sqlutil.DB
}

// Open migrates the schema.
func Open(ctx context.Context, db *sqlutil.DB) (*Store, error) {
	if err := db.Migrate(ctx, "syncapi", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Receipt is one stored receipt.
type Receipt struct {
	StreamPos int64
	RoomID    string
	UserID    string
	Type      string
	ThreadID  string
	EventID   string
	EventPos  int64
	TS        int64
}

// PutReceipt stores a receipt unless the user already has a newer one of
// the same type and thread; it returns the receipt's stream position, or 0
// when nothing changed.
func (s *Store) PutReceipt(ctx context.Context, r Receipt) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var old int64
		err := tx.QueryRow(`SELECT event_pos FROM receipts WHERE room_id = $1 AND user_id = $2 AND receipt_type = $3 AND thread_id = $4`,
			r.RoomID, r.UserID, r.Type, r.ThreadID).Scan(&old)
		if err == nil && old >= r.EventPos {
			return nil
		}
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if err := tx.QueryRow(`SELECT COALESCE(MAX(stream_pos), 0) + 1 FROM receipts`).Scan(&pos); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO receipts (stream_pos, room_id, user_id, receipt_type, thread_id, event_id, event_pos, ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE SET
			stream_pos = excluded.stream_pos, event_id = excluded.event_id, event_pos = excluded.event_pos, ts = excluded.ts`,
			pos, r.RoomID, r.UserID, r.Type, r.ThreadID, r.EventID, r.EventPos, r.TS)
		return err
	})
	return pos, err
}

// ReceiptsInRoom returns the room's receipts with from < pos <= to.
func (s *Store) ReceiptsInRoom(ctx context.Context, roomID string, from, to int64) ([]Receipt, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT stream_pos, room_id, user_id, receipt_type, thread_id, event_id, event_pos, ts
		FROM receipts WHERE room_id = $1 AND stream_pos > $2 AND stream_pos <= $3`, roomID, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Receipt
	for rows.Next() {
		var r Receipt
		if err := rows.Scan(&r.StreamPos, &r.RoomID, &r.UserID, &r.Type, &r.ThreadID, &r.EventID, &r.EventPos, &r.TS); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReadPosition is the stream position of the event the user last marked
// read (m.read or m.read.private, main timeline), or 0.
func (s *Store) ReadPosition(ctx context.Context, roomID, userID string) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(event_pos), 0) FROM receipts
		WHERE room_id = $1 AND user_id = $2 AND receipt_type IN ('m.read', 'm.read.private') AND thread_id IN ('', 'main')`, roomID, userID).Scan(&pos)
	return pos, err
}

// ReadPositions is ReadPosition for each room the user has a receipt in.
func (s *Store) ReadPositions(ctx context.Context, userID string) (map[string]int64, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, MAX(event_pos) FROM receipts
		WHERE user_id = $1 AND receipt_type IN ('m.read', 'm.read.private') AND thread_id IN ('', 'main') GROUP BY room_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var room string
		var pos int64
		if err := rows.Scan(&room, &pos); err != nil {
			return nil, err
		}
		out[room] = pos
	}
	return out, rows.Err()
}

// MaxReceiptPos is the newest receipt position.
func (s *Store) MaxReceiptPos(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM receipts`).Scan(&pos)
	return pos, err
}
