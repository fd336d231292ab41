package storage

import (
	"context"
	"database/sql"
	"errors"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// RoomTask is a room delete or history purge of the admin API.
type RoomTask struct {
	ID, Kind, RoomID, Status, Error string
	// Result is the delete's shutdown_room object (JSON).
	Result             string
	CreatedTS, Updated int64
}

// AddRoomTask records a task that has begun.
func (s *Store) AddRoomTask(ctx context.Context, t RoomTask) error {
	if t.Result == "" {
		t.Result = "{}"
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_room_tasks (task_id, kind, room_id, status, error, result, created_ts, updated_ts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, t.ID, t.Kind, t.RoomID, t.Status, t.Error, t.Result, t.CreatedTS, t.Updated)
		return err
	})
}

// UpdateRoomTask sets a task's status, error and result.
func (s *Store) UpdateRoomTask(ctx context.Context, t RoomTask) error {
	if t.Result == "" {
		t.Result = "{}"
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE admin_room_tasks SET status = $1, error = $2, result = $3, updated_ts = $4 WHERE task_id = $5`,
			t.Status, t.Error, t.Result, t.Updated, t.ID)
		return err
	})
}

const roomTaskColumns = `task_id, kind, room_id, status, error, result, created_ts, updated_ts`

func scanRoomTask(sc interface{ Scan(...any) error }) (RoomTask, error) {
	var t RoomTask
	err := sc.Scan(&t.ID, &t.Kind, &t.RoomID, &t.Status, &t.Error, &t.Result, &t.CreatedTS, &t.Updated)
	return t, err
}

// RoomTaskByID returns one task of the kind.
func (s *Store) RoomTaskByID(ctx context.Context, kind, id string) (RoomTask, error) {
	t, err := scanRoomTask(s.db.Read.QueryRowContext(ctx, `SELECT `+roomTaskColumns+` FROM admin_room_tasks WHERE task_id = $1 AND kind = $2`, id, kind))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// RoomTasks returns the room's tasks of the kind, oldest first.
func (s *Store) RoomTasks(ctx context.Context, kind, roomID string) ([]RoomTask, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+roomTaskColumns+` FROM admin_room_tasks WHERE room_id = $1 AND kind = $2
		ORDER BY created_ts, task_id`, roomID, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RoomTask
	for rows.Next() {
		t, err := scanRoomTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
