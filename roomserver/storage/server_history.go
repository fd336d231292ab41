package storage

import (
	"context"
	"database/sql"
	"errors"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// What another server may see of a room's history depends on the room's
// history_visibility changes and on the memberships of that server's
// users (roomserver/server_history.go). These read them for one server
// at a time, a few queries for any number of events.

// MemberChange is a membership event in a room's stream.
type MemberChange struct {
	StreamPos  int64
	UserID     string
	Membership string
}

// MemberChangesOfServer lists the stream's membership events of the room
// for users whose id ends in ":"+server, oldest first. The caller checks
// the domain exactly; the pattern only narrows the scan to the room's
// member events.
func (s *Store) MemberChangesOfServer(ctx context.Context, roomNID int64, server string) ([]MemberChange, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT stream_pos, state_key, COALESCE(membership, '') FROM events
		WHERE room_nid = $1 AND type = 'm.room.member' AND state_key LIKE $2 ESCAPE '\' AND stream_pos IS NOT NULL
		ORDER BY stream_pos`, roomNID, "%:"+sqlutil.LikeEscape(server))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MemberChange
	for rows.Next() {
		var m MemberChange
		if err := rows.Scan(&m.StreamPos, &m.UserID, &m.Membership); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// FirstLiveSnapshot is the state before the room's first stream event
// that has one: for a room joined through another server, the state it
// was joined with; 0 when there is none.
func (s *Store) FirstLiveSnapshot(ctx context.Context, roomNID int64) (int64, error) {
	var nid int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT snapshot_before FROM events
		WHERE room_nid = $1 AND stream_pos > 0 AND snapshot_before != 0 ORDER BY stream_pos LIMIT 1`, roomNID).Scan(&nid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return nid, err
}

// CreateInTimeline tells whether the room's create event has a place in
// the stream (the room was created here, or backfilled to its start).
func (s *Store) CreateInTimeline(ctx context.Context, roomNID int64) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM events
		WHERE room_nid = $1 AND type = 'm.room.create' AND state_key = '' AND stream_pos IS NOT NULL`, roomNID).Scan(&n)
	return n > 0, err
}

// EventsNearTimestamp returns up to limit stream events of the room
// nearest ts: those sent at or before it, newest first, or, forwards, at
// or after it, oldest first.
func (s *Store) EventsNearTimestamp(ctx context.Context, roomNID, ts int64, forwards bool, limit int) ([]*Event, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE room_nid = $1 AND stream_pos IS NOT NULL AND origin_ts <= $2
		ORDER BY origin_ts DESC, stream_pos DESC LIMIT $3`
	if forwards {
		q = `SELECT ` + eventColumns + ` FROM events WHERE room_nid = $1 AND stream_pos IS NOT NULL AND origin_ts >= $2
		ORDER BY origin_ts ASC, stream_pos ASC LIMIT $3`
	}
	return scanEvents(s.db.Read.QueryContext(ctx, q, roomNID, ts, limit))
}
