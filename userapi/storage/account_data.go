package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// AccountData is one entry of account data; RoomID is "" for global data.
type AccountData struct {
	RoomID    string
	Type      string
	Content   []byte
	StreamPos int64
}

// PutAccountData stores content and returns its new stream position.
func (s *Store) PutAccountData(ctx context.Context, userID, roomID, dataType string, content []byte) (int64, error) {
	return s.UpdateAccountData(ctx, userID, roomID, dataType, func([]byte) ([]byte, error) { return content, nil })
}

// UpdateAccountData replaces the content with what update makes of the
// current one (nil when there is none), inside the write, so concurrent
// updates of one entry cannot lose each other's changes. It returns the
// new stream position.
func (s *Store) UpdateAccountData(ctx context.Context, userID, roomID, dataType string, update func(old []byte) ([]byte, error)) (int64, error) {
	var pos int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var old []byte
		var oldText string
		err := tx.QueryRowContext(ctx, `SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3`,
			userID, roomID, dataType).Scan(&oldText)
		switch {
		case err == nil:
			old = []byte(oldText)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		content, err := update(old)
		if err != nil {
			return err
		}
		// Every write of the process runs through one committer, so the
		// maximum cannot move between this read and the insert.
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) + 1 FROM account_data`).Scan(&pos); err != nil {
			return fmt.Errorf("next account data position: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO account_data (user_id, room_id, type, content, stream_pos)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream_pos = excluded.stream_pos`,
			userID, roomID, dataType, string(content), pos)
		return err
	})
	if err != nil {
		return 0, err
	}
	return pos, nil
}

// AccountData returns one entry's content.
func (s *Store) AccountData(ctx context.Context, userID, roomID, dataType string) ([]byte, error) {
	var content string
	err := s.db.Read.QueryRowContext(ctx, `SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3`,
		userID, roomID, dataType).Scan(&content)
	if err != nil {
		return nil, notFound(err, "account data "+dataType)
	}
	return []byte(content), nil
}

// GlobalAccountData reads several of the user's global entries at once;
// the types not set are missing from the map.
func (s *Store) GlobalAccountData(ctx context.Context, userID string, types []string) (map[string][]byte, error) {
	args := make([]any, 0, len(types)+1)
	args = append(args, userID)
	for _, t := range types {
		args = append(args, t)
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT type, content FROM account_data
		WHERE user_id = $1 AND room_id = '' AND type IN (`+sqlutil.InList(2, len(types))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string][]byte, len(types))
	for rows.Next() {
		var t, content string
		if err := rows.Scan(&t, &content); err != nil {
			return nil, err
		}
		out[t] = []byte(content)
	}
	return out, rows.Err()
}

// AccountDataSince returns the user's entries whose position is in
// (from, to], in position order.
func (s *Store) AccountDataSince(ctx context.Context, userID string, from, to int64) ([]AccountData, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, type, content, stream_pos FROM account_data
		WHERE user_id = $1 AND stream_pos > $2 AND stream_pos <= $3 ORDER BY stream_pos`, userID, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccountData
	for rows.Next() {
		var (
			d       AccountData
			content string
		)
		if err := rows.Scan(&d.RoomID, &d.Type, &content, &d.StreamPos); err != nil {
			return nil, err
		}
		d.Content = []byte(content)
		out = append(out, d)
	}
	return out, rows.Err()
}

// AccountDataOfRooms returns the user's entries of the rooms ("" for the
// global ones) whose position is at most to, in position order. Sliding
// sync sends the account data of rooms new to a connection with it.
func (s *Store) AccountDataOfRooms(ctx context.Context, userID string, roomIDs []string, to int64) ([]AccountData, error) {
	var out []AccountData
	for start := 0; start < len(roomIDs); start += 500 {
		chunk := roomIDs[start:min(start+500, len(roomIDs))]
		args := []any{userID, to}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, type, content, stream_pos FROM account_data
			WHERE user_id = $1 AND stream_pos <= $2 AND room_id IN (`+sqlutil.InList(3, len(chunk))+`) ORDER BY stream_pos`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				d       AccountData
				content string
			)
			if err := rows.Scan(&d.RoomID, &d.Type, &content, &d.StreamPos); err != nil {
				rows.Close()
				return nil, err
			}
			d.Content = []byte(content)
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AccountDataPosition is the highest position in use, 0 for none.
func (s *Store) AccountDataPosition(ctx context.Context) (int64, error) {
	var pos int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM account_data`).Scan(&pos)
	return pos, err
}
