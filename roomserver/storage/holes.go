package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// Hole is history missing in the middle of a room's timeline, right
// below the event EventID (at EventPos): positions FloorPos < pos <=
// NextPos are free for it, taken from the top down as backfill brings
// the missing events, newest first. Missing are the events at its upper
// edge that we lack: where the next /backfill starts.
type Hole struct {
	EventNID int64
	RoomNID  int64
	EventID  string
	EventPos int64
	NextPos  int64
	FloorPos int64
	Missing  []string
}

// Full tells whether no position is left in the hole.
func (h *Hole) Full() bool { return h.NextPos <= h.FloorPos }

const holeColumns = `event_nid, room_nid, event_id, event_pos, next_pos, floor_pos, missing`

func scanHole(sc interface{ Scan(...any) error }) (*Hole, error) {
	var h Hole
	var missing string
	if err := sc.Scan(&h.EventNID, &h.RoomNID, &h.EventID, &h.EventPos, &h.NextPos, &h.FloorPos, &missing); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(missing), &h.Missing); err != nil {
		return nil, fmt.Errorf("hole below %s: %w", h.EventID, err)
	}
	return &h, nil
}

// HoleBelow is the open hole right below an event, or ErrNotFound.
func (s *Store) HoleBelow(ctx context.Context, eventID string) (*Hole, error) {
	h, err := scanHole(s.db.Read.QueryRowContext(ctx, `SELECT `+holeColumns+` FROM timeline_holes WHERE event_id = $1`, eventID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return h, err
}

// HolesBetween are a room's open holes with free positions in
// lower < pos <= upper, the newest first: those a page of /messages that
// read from upper down to lower went through.
func (s *Store) HolesBetween(ctx context.Context, roomNID, lower, upper int64) ([]*Hole, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+holeColumns+` FROM timeline_holes
		WHERE room_nid = $1 AND next_pos > $2 AND floor_pos < $3 ORDER BY event_pos DESC`, roomNID, lower, upper)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Hole
	for rows.Next() {
		h, err := scanHole(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// writeHoles records new holes and fills, and drops the closed ones.
func writeHoles(tx *sql.Tx, holes []Hole, closed []int64) error {
	for _, h := range holes {
		missing, _ := json.Marshal(h.Missing)
		if _, err := tx.Exec(`INSERT INTO timeline_holes (`+holeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (event_nid) DO UPDATE SET next_pos = excluded.next_pos, missing = excluded.missing`,
			h.EventNID, h.RoomNID, h.EventID, h.EventPos, h.NextPos, h.FloorPos, string(missing)); err != nil {
			return fmt.Errorf("hole below %s: %w", h.EventID, err)
		}
	}
	for _, nid := range closed {
		if _, err := tx.Exec(`DELETE FROM timeline_holes WHERE event_nid = $1`, nid); err != nil {
			return fmt.Errorf("close hole: %w", err)
		}
	}
	return nil
}
