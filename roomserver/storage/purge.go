package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// PurgeRoom is a room whose every row goes (the admin API's room delete
// with purge). It is written last in its batch, so that whatever the
// batch's other tasks wrote to the room goes with it.
type PurgeRoom struct {
	RoomNID int64
	RoomID  string
}

// purgeByEvent are the rows that name an event of the room but not the
// room; they go before the events they name.
var purgeByEvent = []string{
	`DELETE FROM client_txns WHERE event_id IN (SELECT event_id FROM events WHERE room_nid = $1)`,
}

// purgeByNID are the roomserver's rows keyed by the room's nid.
var purgeByNID = []string{
	`DELETE FROM events WHERE room_nid = $1`,
	`DELETE FROM state_snapshots WHERE room_nid = $1`,
	`DELETE FROM current_state WHERE room_nid = $1`,
	`DELETE FROM memberships WHERE room_nid = $1`,
	`DELETE FROM timeline_holes WHERE room_nid = $1`,
	`DELETE FROM rooms WHERE room_nid = $1`,
}

// purgeByID are the rows keyed by the room's id, the roomserver's and
// those of the components that keep per-room data of their users (one
// database, decision 0001). They are deleted here, in the roomserver's
// transaction, rather than by each owner on a message of the bus: a
// purge is then all or nothing, and no component keeps rows of a room
// that no longer exists. None of these owners caches the rows.
//
// Kept on purpose: admin_blocked_rooms (a block outlives the room),
// admin_audit_log (appended only), key_backup_keys (the users' own
// encrypted backups: the server cannot tell a backup's room keys apart
// from what the user still wants), and federation_queue (the leaves of
// the room's local members still have to reach the other servers).
var purgeByID = []string{
	`DELETE FROM room_aliases WHERE room_id = $1`,
	// syncapi
	`DELETE FROM receipts WHERE room_id = $1`,
	`DELETE FROM peeks WHERE room_id = $1`,
	`DELETE FROM sliding_rooms WHERE room_id = $1`,
	// userapi: room account data (tags among it) and reports
	`DELETE FROM account_data WHERE room_id = $1`,
	`DELETE FROM reports WHERE room_id = $1`,
}

func purgeRoom(tx *sql.Tx, p PurgeRoom) error {
	for _, groups := range [][]string{purgeByEvent, purgeByNID} {
		for _, q := range groups {
			if _, err := tx.Exec(q, p.RoomNID); err != nil {
				return fmt.Errorf("purge room %s: %w", p.RoomID, err)
			}
		}
	}
	for _, q := range purgeByID {
		if _, err := tx.Exec(q, p.RoomID); err != nil {
			return fmt.Errorf("purge room %s: %w", p.RoomID, err)
		}
	}
	return nil
}

// HistoryPurge removes the room's timeline events (not state) older
// than a stream position, and their derived rows. The room's current
// state and every state event stay: snapshots name state events only,
// so the state at any event left is still whole. Keep names events that
// must stay whatever their age (the room's forward extremities, which
// the next event refers to).
type HistoryPurge struct {
	RoomNID int64
	// Before is the stream position the purge stops at (exclusive).
	Before int64
	// LocalSuffix, when set (":" and the server name), keeps the events
	// local users sent: Synapse's delete_local_events false.
	LocalSuffix string
	Keep        []string
}

func purgeHistory(tx *sql.Tx, h HistoryPurge) error {
	cond := `room_nid = $1 AND state_key IS NULL AND stream_pos IS NOT NULL AND stream_pos < $2`
	args := []any{h.RoomNID, h.Before}
	if h.LocalSuffix != "" {
		args = append(args, "%"+escapeLike(h.LocalSuffix))
		cond += fmt.Sprintf(` AND sender NOT LIKE $%d ESCAPE '\'`, len(args))
	}
	for _, id := range h.Keep {
		args = append(args, id)
		cond += fmt.Sprintf(` AND event_id <> $%d`, len(args))
	}
	if _, err := tx.Exec(`DELETE FROM client_txns WHERE event_id IN (SELECT event_id FROM events WHERE `+cond+`)`, args...); err != nil {
		return fmt.Errorf("purge history: %w", err)
	}
	if _, err := tx.Exec(`DELETE FROM events WHERE `+cond, args...); err != nil {
		return fmt.Errorf("purge history: %w", err)
	}
	// History missing below a purged event is not wanted either.
	if _, err := tx.Exec(`DELETE FROM timeline_holes WHERE room_nid = $1 AND event_pos < $2`, h.RoomNID, h.Before); err != nil {
		return fmt.Errorf("purge history: %w", err)
	}
	return nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// HistoryBound is the stream position a history purge up to ts stops
// at: the room's first event sent at or after ts, or else its newest
// event, which a purge always keeps. ok is false for a room without
// events in the stream.
func (s *Store) HistoryBound(ctx context.Context, roomNID, ts int64) (pos int64, ok bool, err error) {
	var first, last sql.NullInt64
	err = s.db.Read.QueryRowContext(ctx, `SELECT
		(SELECT MIN(stream_pos) FROM events WHERE room_nid = $1 AND stream_pos IS NOT NULL AND origin_ts >= $2),
		(SELECT MAX(stream_pos) FROM events WHERE room_nid = $1 AND stream_pos IS NOT NULL)`, roomNID, ts).Scan(&first, &last)
	if err != nil || !last.Valid {
		return 0, false, err
	}
	if first.Valid && first.Int64 < last.Int64 {
		return first.Int64, true, nil
	}
	return last.Int64, true, nil
}

// MoveAliases points the local aliases of room from at room to, or
// deletes them when to is "", and returns them.
func (s *Store) MoveAliases(ctx context.Context, from, to string) ([]string, error) {
	aliases, err := s.AliasesOfRoom(ctx, from)
	if err != nil || len(aliases) == 0 {
		return aliases, err
	}
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if to == "" {
			_, err := tx.Exec(`DELETE FROM room_aliases WHERE room_id = $1`, from)
			return err
		}
		_, err := tx.Exec(`UPDATE room_aliases SET room_id = $1 WHERE room_id = $2`, to, from)
		return err
	})
	return aliases, err
}

// RoomMemberships are the users with a membership of the room and what
// it is.
func (s *Store) RoomMemberships(ctx context.Context, roomNID int64) (map[string]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, membership FROM memberships WHERE room_nid = $1`, roomNID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var u, m string
		if err := rows.Scan(&u, &m); err != nil {
			return nil, err
		}
		out[u] = m
	}
	return out, rows.Err()
}
