package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/tidwall/gjson"
)

// eventColumns lists the columns scanEvent reads, with an optional table prefix.
func columns(p string) string {
	return strings.NewReplacer("@", p).Replace(`@event_nid, @room_nid, @event_id, COALESCE(@stream_pos, 0), @type, @state_key, @sender, @depth, @origin_ts,
	@snapshot_before, COALESCE(@membership, ''), @rejected, @redacted, COALESCE(@relates_to, ''), COALESCE(@rel_type, ''),
	COALESCE(@txn_session, 0), COALESCE(@txn_id, ''), @pdu, @client, @thread_count, COALESCE(@thread_latest, 0)`)
}

var eventColumns = columns("")

func scanEvent(sc interface{ Scan(...any) error }) (*Event, error) {
	var e Event
	var stateKey sql.NullString
	var rejected, redacted int
	if err := sc.Scan(&e.NID, &e.RoomNID, &e.ID, &e.StreamPos, &e.Type, &stateKey, &e.Sender, &e.Depth, &e.OriginTS,
		&e.SnapshotBefore, &e.Membership, &rejected, &redacted, &e.RelatesTo, &e.RelType, &e.TxnSession, &e.TxnID, &e.PDU, &e.Client, &e.ThreadCount, &e.ThreadLatest); err != nil {
		return nil, err
	}
	if stateKey.Valid {
		sk := stateKey.String
		e.StateKey = &sk
	}
	e.Rejected, e.Redacted = rejected != 0, redacted != 0
	return &e, nil
}

func scanEvents(rows *sql.Rows, err error) ([]*Event, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventByID loads one event.
func (s *Store) EventByID(ctx context.Context, eventID string) (*Event, error) {
	e, err := scanEvent(s.db.Read.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE event_id = $1`, eventID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return e, err
}

// PushInfo is what push notifications need of a stored event: its push
// class and mentions (which the other reads leave out), whether it was
// rejected, and its federation form.
func (s *Store) PushInfo(ctx context.Context, eventID string) (*Event, error) {
	e := Event{ID: eventID}
	var rejected int
	var mentions sql.NullString
	err := s.db.Read.QueryRowContext(ctx, `SELECT push_class, mentions, rejected, pdu FROM events WHERE event_id = $1`, eventID).
		Scan(&e.PushClass, &mentions, &rejected, &e.PDU)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	e.Mentions, e.Rejected = mentions.String, rejected != 0
	return &e, err
}

// EventsByNID loads events by nid, in no particular order.
func (s *Store) EventsByNID(ctx context.Context, nids []int64) ([]*Event, error) {
	var out []*Event
	for start := 0; start < len(nids); start += 500 {
		chunk := nids[start:min(start+500, len(nids))]
		args := make([]any, len(chunk))
		for i, n := range chunk {
			args[i] = n
		}
		evs, err := scanEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE event_nid IN (`+sqlutil.InList(1, len(chunk))+`)`, args...))
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

// CurrentState loads the current state events of a room.
func (s *Store) CurrentState(ctx context.Context, roomNID int64) ([]*Event, error) {
	return scanEvents(s.db.Read.QueryContext(ctx, `SELECT `+columns("e.")+` FROM current_state c JOIN events e ON e.event_nid = c.event_nid WHERE c.room_nid = $1`, roomNID))
}

// RoomEvents returns up to limit stream events of a room with from < pos <= to,
// newest first when backwards, else oldest first.
func (s *Store) RoomEvents(ctx context.Context, roomNID, from, to int64, limit int, backwards bool) ([]*Event, error) {
	return s.RoomEventsFiltered(ctx, roomNID, from, to, limit, backwards, nil)
}

// RoomEventsFiltered is RoomEvents for the events f lets through.
func (s *Store) RoomEventsFiltered(ctx context.Context, roomNID, from, to int64, limit int, backwards bool, f *EventFilter) ([]*Event, error) {
	order := "ASC"
	if backwards {
		order = "DESC"
	}
	cond, args := f.where([]any{roomNID, from, to})
	args = append(args, limit)
	return scanEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE room_nid = $1 AND stream_pos > $2 AND stream_pos <= $3`+cond+fmt.Sprintf(` ORDER BY stream_pos %s LIMIT $%d`, order, len(args)), args...))
}

// StateEventsBetween returns the stream state events of a room with from < pos <= to.
func (s *Store) StateEventsBetween(ctx context.Context, roomNID, from, to int64) ([]*Event, error) {
	return scanEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE room_nid = $1 AND stream_pos > $2 AND stream_pos <= $3 AND state_key IS NOT NULL ORDER BY stream_pos ASC`, roomNID, from, to))
}

// Relations returns events relating to eventID, newest first.
func (s *Store) Relations(ctx context.Context, eventID string, relType, evType string, from, to int64, limit int, backwards bool) ([]*Event, error) {
	order := "ASC"
	if backwards {
		order = "DESC"
	}
	q := `SELECT ` + eventColumns + ` FROM events WHERE relates_to = $1 AND stream_pos > $2 AND stream_pos <= $3`
	args := []any{eventID, from, to}
	if relType != "" {
		args = append(args, relType)
		q += fmt.Sprintf(" AND rel_type = $%d", len(args))
	}
	if evType != "" {
		args = append(args, evType)
		q += fmt.Sprintf(" AND type = $%d", len(args))
	}
	args = append(args, limit)
	q += fmt.Sprintf(" ORDER BY stream_pos %s LIMIT $%d", order, len(args))
	return scanEvents(s.db.Read.QueryContext(ctx, q, args...))
}

// StateAt returns the full state map of a snapshot by walking its deltas.
func (s *Store) StateAt(ctx context.Context, snapshotNID int64) (map[[2]string]int64, error) {
	return WalkSnapshots(snapshotNID, func(nid int64) (*Snapshot, error) { return s.Snapshot(ctx, nid) })
}

// Snapshot loads one snapshot row. Callers must not change it: it is
// shared through the cache.
func (s *Store) Snapshot(ctx context.Context, nid int64) (*Snapshot, error) {
	if sn, ok := s.snapshots.Get(nid); ok {
		return sn, nil
	}
	sn := &Snapshot{NID: nid}
	var delta string
	err := s.db.Read.QueryRowContext(ctx, `SELECT room_nid, parent_nid, delta FROM state_snapshots WHERE snapshot_nid = $1`, nid).Scan(&sn.RoomNID, &sn.Parent, &delta)
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", nid, err)
	}
	if err := json.Unmarshal([]byte(delta), &sn.Delta); err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", nid, err)
	}
	s.snapshots.Add(nid, sn)
	return sn, nil
}

// WalkSnapshots resolves a snapshot chain into a full state map; load
// supplies each snapshot (from the database, or from a batch not yet
// written).
func WalkSnapshots(snapshotNID int64, load func(int64) (*Snapshot, error)) (map[[2]string]int64, error) {
	state := map[[2]string]int64{}
	for nid := snapshotNID; nid != 0; {
		sn, err := load(nid)
		if err != nil {
			return nil, err
		}
		for _, e := range sn.Delta {
			k := [2]string{e.Type, e.StateKey}
			if _, seen := state[k]; !seen {
				state[k] = e.EventNID
			}
		}
		nid = sn.Parent
	}
	return state, nil
}

// UserMembership is one room membership of a user.
type UserMembership struct {
	RoomNID    int64
	RoomID     string
	Membership string
	EventNID   int64
	StreamPos  int64
	Forgotten  bool
}

// MembershipsOfUser lists the user's current memberships of every room.
func (s *Store) MembershipsOfUser(ctx context.Context, userID string) ([]UserMembership, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT m.room_nid, r.room_id, m.membership, m.event_nid, m.stream_pos, m.forgotten
		FROM memberships m JOIN rooms r ON r.room_nid = m.room_nid WHERE m.user_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []UserMembership
	for rows.Next() {
		var m UserMembership
		var forgotten int
		if err := rows.Scan(&m.RoomNID, &m.RoomID, &m.Membership, &m.EventNID, &m.StreamPos, &forgotten); err != nil {
			return nil, err
		}
		m.Forgotten = forgotten != 0
		out = append(out, m)
	}
	return out, rows.Err()
}

// MembershipEventsOfUser returns the user's membership events in one room with from < pos <= to.
func (s *Store) MembershipEventsOfUser(ctx context.Context, roomNID int64, userID string, from, to int64) ([]*Event, error) {
	return scanEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE room_nid = $1 AND type = 'm.room.member' AND state_key = $2 AND stream_pos > $3 AND stream_pos <= $4 ORDER BY stream_pos`, roomNID, userID, from, to))
}

// TxnEventID returns the event id sent under a transaction id, or "".
func (s *Store) TxnEventID(ctx context.Context, k TxnKey) (string, error) {
	var id string
	err := s.db.Read.QueryRowContext(ctx, `SELECT event_id FROM client_txns
		WHERE user_id = $1 AND device_id = $2 AND endpoint = $3 AND txn_id = $4`, k.UserID, k.DeviceID, k.Endpoint, k.TxnID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// CountUnread counts the events in (after, upto] of a room by others than
// user that the default push rules notify user of, and of those the ones
// that highlight (see roomserver/pushclass.go).
func (s *Store) CountUnread(ctx context.Context, roomNID, after, upto int64, user string) (notifications, highlights int, err error) {
	mention := "% " + sqlutil.LikeEscape(user) + " %"
	// SQLite numbers parameters in the order they appear: keep $1 first.
	err = s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN push_class = 2 OR (' ' || mentions || ' ') LIKE $1 ESCAPE '\' THEN 1 ELSE 0 END), 0)
		FROM events WHERE room_nid = $2 AND stream_pos > $3 AND stream_pos <= $4 AND sender != $5 AND push_class > 0`,
		mention, roomNID, after, upto, user).Scan(&notifications, &highlights)
	return notifications, highlights, err
}

// StateHistory returns every stream event of a room that set the given
// state key, oldest first.
func (s *Store) StateHistory(ctx context.Context, roomNID int64, evType, stateKey string) ([]*Event, error) {
	return scanEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE room_nid = $1 AND type = $2 AND state_key = $3 AND stream_pos IS NOT NULL ORDER BY stream_pos`, roomNID, evType, stateKey))
}

// MembershipAt is the user's membership of a room after the stream event
// at pos ("leave" if none).
func (s *Store) MembershipAt(ctx context.Context, roomNID int64, userID string, pos int64) (string, error) {
	var m string
	err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(membership, 'leave') FROM events
		WHERE room_nid = $1 AND type = 'm.room.member' AND state_key = $2 AND stream_pos IS NOT NULL AND stream_pos <= $3
		ORDER BY stream_pos DESC LIMIT 1`, roomNID, userID, pos).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return "leave", nil
	}
	return m, err
}

// CurrentStateNIDs returns the event nids of a room's current state.
func (s *Store) CurrentStateNIDs(ctx context.Context, roomNID int64) (map[int64]bool, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT event_nid FROM current_state WHERE room_nid = $1`, roomNID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var nid int64
		if err := rows.Scan(&nid); err != nil {
			return nil, err
		}
		out[nid] = true
	}
	return out, rows.Err()
}

// OpenRooms lists the rooms anyone may join or read: join rule public, or
// world-readable history. The user directory treats their members as
// visible to everyone.
func (s *Store) OpenRooms(ctx context.Context) ([]string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT r.room_id, e.type, e.client FROM current_state c
		JOIN events e ON e.event_nid = c.event_nid JOIN rooms r ON r.room_nid = c.room_nid
		WHERE c.type IN ('m.room.join_rules', 'm.room.history_visibility') AND c.state_key = ''`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []string
	for rows.Next() {
		var roomID, evType string
		var client []byte
		if err := rows.Scan(&roomID, &evType, &client); err != nil {
			return nil, err
		}
		open := (evType == "m.room.join_rules" && gjson.GetBytes(client, "content.join_rule").String() == "public") ||
			(evType == "m.room.history_visibility" && gjson.GetBytes(client, "content.history_visibility").String() == "world_readable")
		if open && !seen[roomID] {
			seen[roomID] = true
			out = append(out, roomID)
		}
	}
	return out, rows.Err()
}

// StreamEventsAfter returns up to limit stream events with pos > after,
// oldest first, with their room ids.
func (s *Store) StreamEventsAfter(ctx context.Context, after int64, limit int) ([]*Event, []string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+columns("e.")+`, r.room_id FROM events e JOIN rooms r ON r.room_nid = e.room_nid
		WHERE e.stream_pos > $1 ORDER BY e.stream_pos LIMIT $2`, after, limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var evs []*Event
	var rooms []string
	for rows.Next() {
		var roomID string
		e, err := scanEvent(scanWithExtra{rows, &roomID})
		if err != nil {
			return nil, nil, err
		}
		evs = append(evs, e)
		rooms = append(rooms, roomID)
	}
	return evs, rooms, rows.Err()
}

// scanWithExtra scans the event columns followed by extra destinations.
type scanWithExtra struct {
	rows  *sql.Rows
	extra *string
}

func (s scanWithExtra) Scan(dest ...any) error {
	return s.rows.Scan(append(dest, s.extra)...)
}

// DirectoryMember is a joined member as the user directory sees it.
type DirectoryMember struct {
	UserID string
	RoomID string
	// Client is the member event in the client format (for the profile).
	Client []byte
	// InOpenRoom is set when the row comes from a public or world-readable
	// room, whose members every user may find.
	InOpenRoom bool
}

// DirectoryMembers lists the joined members of the rooms searcher is
// joined to and of the open rooms, a user once per room.
func (s *Store) DirectoryMembers(ctx context.Context, searcher string) ([]DirectoryMember, error) {
	const columns = `SELECT m.user_id, r.room_id, e.client FROM memberships m JOIN events e ON e.event_nid = m.event_nid
		JOIN rooms r ON r.room_nid = m.room_nid WHERE m.membership = 'join' AND `
	out, err := s.directoryRows(ctx, false, columns+`m.room_nid IN
		(SELECT room_nid FROM memberships WHERE user_id = $1 AND membership = 'join')`, searcher)
	if err != nil {
		return nil, err
	}
	open, err := s.OpenRooms(ctx)
	if err != nil {
		return nil, err
	}
	// Bounded parameter lists: SQLite takes at most 32,766.
	const chunk = 1000
	for len(open) > 0 {
		n := min(chunk, len(open))
		rows, err := s.directoryRows(ctx, true, columns+`r.room_id IN (`+sqlutil.InList(1, n)+`)`, anySlice(open[:n])...)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		open = open[n:]
	}
	return out, nil
}

func (s *Store) directoryRows(ctx context.Context, inOpenRoom bool, query string, args ...any) ([]DirectoryMember, error) {
	rows, err := s.db.Read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DirectoryMember
	for rows.Next() {
		m := DirectoryMember{InOpenRoom: inOpenRoom}
		if err := rows.Scan(&m.UserID, &m.RoomID, &m.Client); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ThreadRoots lists a room's thread roots with the newest activity first:
// those whose newest reply is before the stream position before (0 for
// all), at most limit; with participant set only threads that user
// started or replied in.
func (s *Store) ThreadRoots(ctx context.Context, roomNID, before int64, participant string, limit int) ([]*Event, error) {
	if before <= 0 {
		before = 1 << 62
	}
	q := `SELECT ` + eventColumns + ` FROM events WHERE room_nid = $1 AND thread_latest IS NOT NULL AND thread_latest < $2`
	args := []any{roomNID, before}
	if participant != "" {
		q += ` AND (sender = $3 OR EXISTS (SELECT 1 FROM events r WHERE r.relates_to = events.event_id
			AND r.rel_type = 'm.thread' AND r.sender = $3 AND r.stream_pos IS NOT NULL))`
		args = append(args, participant)
	}
	args = append(args, limit)
	q += fmt.Sprintf(` ORDER BY thread_latest DESC LIMIT $%d`, len(args))
	return scanEvents(s.db.Read.QueryContext(ctx, q, args...))
}

// ThreadParticipant tells whether user replied in the thread of root.
func (s *Store) ThreadParticipant(ctx context.Context, root, user string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE relates_to = $1 AND rel_type = 'm.thread'
		AND sender = $2 AND stream_pos IS NOT NULL`, root, user).Scan(&n)
	return n > 0, err
}

// EventAtPosition is the stream event at pos.
func (s *Store) EventAtPosition(ctx context.Context, pos int64) (*Event, error) {
	evs, err := scanEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE stream_pos = $1`, pos))
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, ErrNotFound
	}
	return evs[0], nil
}

// EventNearTimestamp is the room's stream event closest to ts (ms) in
// direction: the first at or after ts forwards, the last at or before
// ts backwards. Timestamps are the senders'; ties go by stream order.
func (s *Store) EventNearTimestamp(ctx context.Context, roomNID, ts int64, forwards bool) (*Event, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE room_nid = $1 AND stream_pos IS NOT NULL AND origin_ts <= $2
		ORDER BY origin_ts DESC, stream_pos DESC LIMIT 1`
	if forwards {
		q = `SELECT ` + eventColumns + ` FROM events WHERE room_nid = $1 AND stream_pos IS NOT NULL AND origin_ts >= $2
		ORDER BY origin_ts ASC, stream_pos ASC LIMIT 1`
	}
	evs, err := scanEvents(s.db.Read.QueryContext(ctx, q, roomNID, ts))
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, ErrNotFound
	}
	return evs[0], nil
}

// SharedUsers lists the users joined to any room user is joined to, user
// included when joined anywhere.
func (s *Store) SharedUsers(ctx context.Context, user string) (map[string]bool, error) {
	return s.sharedUsers(ctx, user, `m2.membership = 'join'`)
}

// SharedOrInvitedUsers is SharedUsers with the users invited to those
// rooms: clients encrypt for invited members too, so their devices matter
// to the user's device lists.
func (s *Store) SharedOrInvitedUsers(ctx context.Context, user string) (map[string]bool, error) {
	return s.sharedUsers(ctx, user, `m2.membership IN ('join', 'invite')`)
}

func (s *Store) sharedUsers(ctx context.Context, user, others string) (map[string]bool, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT DISTINCT m2.user_id FROM memberships m1
		JOIN memberships m2 ON m2.room_nid = m1.room_nid
		WHERE m1.user_id = $1 AND m1.membership = 'join' AND `+others, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out[u] = true
	}
	return out, rows.Err()
}

// MembershipChange is a member's current membership of a room.
type MembershipChange struct {
	RoomNID    int64
	UserID     string
	Membership string
}

// MembershipChangesSince lists the memberships that changed in (from, to]
// in the rooms user is joined to or was in (the rooms of roomNIDs).
func (s *Store) MembershipChangesSince(ctx context.Context, roomNIDs []int64, from, to int64) ([]MembershipChange, error) {
	if len(roomNIDs) == 0 {
		return nil, nil
	}
	args := []any{from, to}
	for _, n := range roomNIDs {
		args = append(args, n)
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_nid, user_id, membership FROM memberships
		WHERE stream_pos > $1 AND stream_pos <= $2 AND room_nid IN (`+sqlutil.InList(3, len(roomNIDs))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MembershipChange
	for rows.Next() {
		var m MembershipChange
		if err := rows.Scan(&m.RoomNID, &m.UserID, &m.Membership); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// JoinedUsersOfRooms lists who is joined to the rooms.
func (s *Store) JoinedUsersOfRooms(ctx context.Context, roomNIDs []int64) ([]string, error) {
	if len(roomNIDs) == 0 {
		return nil, nil
	}
	args := make([]any, len(roomNIDs))
	for i, n := range roomNIDs {
		args[i] = n
	}
	return sqlutil.Strings(s.db.Read.QueryContext(ctx, `SELECT DISTINCT user_id FROM memberships WHERE membership = 'join'
		AND room_nid IN (`+sqlutil.InList(1, len(roomNIDs))+`)`, args...))
}

// NotifyingEvent is an event that notifies a user under the default push
// rules (see CountUnread).
type NotifyingEvent struct {
	NID, RoomNID, StreamPos int64
	// Highlight is @room by someone allowed to, or a mention of the user.
	Highlight bool
}

// NotifyingEvents lists, newest first, the events by others before
// stream position before that notify user in the rooms given, each room
// with the position after which its events count (the user's join).
func (s *Store) NotifyingEvents(ctx context.Context, user string, rooms map[int64]int64, before int64, highlightOnly bool, limit int) ([]NotifyingEvent, error) {
	if len(rooms) == 0 {
		return nil, nil
	}
	mention := "% " + sqlutil.LikeEscape(user) + " %"
	args := []any{mention, user, before}
	var within strings.Builder
	for nid, after := range rooms {
		if within.Len() > 0 {
			within.WriteString(" OR ")
		}
		fmt.Fprintf(&within, "(room_nid = $%d AND stream_pos > $%d)", len(args)+1, len(args)+2)
		args = append(args, nid, after)
	}
	class := "push_class > 0"
	if highlightOnly {
		class = "(push_class = 2 OR (' ' || mentions || ' ') LIKE $1 ESCAPE '\\')"
	}
	args = append(args, limit)
	// SQLite numbers parameters in the order they appear: keep $1 first.
	rows, err := s.db.Read.QueryContext(ctx, `SELECT event_nid, room_nid, stream_pos,
		CASE WHEN push_class = 2 OR (' ' || mentions || ' ') LIKE $1 ESCAPE '\' THEN 1 ELSE 0 END
		FROM events WHERE sender <> $2 AND stream_pos < $3 AND (`+within.String()+`) AND `+class+`
		ORDER BY stream_pos DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []NotifyingEvent
	for rows.Next() {
		var e NotifyingEvent
		var hl int
		if err := rows.Scan(&e.NID, &e.RoomNID, &e.StreamPos, &hl); err != nil {
			return nil, err
		}
		e.Highlight = hl == 1
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventsByID loads the events with the given ids that exist, in no order.
func (s *Store) EventsByID(ctx context.Context, ids []string) ([]*Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []*Event
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		evs, err := scanEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE event_id IN (`+sqlutil.InList(1, len(chunk))+`)`, anySlice(chunk)...))
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

// EarliestEvent is the oldest event of the room's timeline (backfilled
// history included), where paging backwards ends.
func (s *Store) EarliestEvent(ctx context.Context, roomNID int64) (*Event, error) {
	e, err := scanEvent(s.db.Read.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE room_nid = $1 AND stream_pos IS NOT NULL ORDER BY stream_pos ASC LIMIT 1`, roomNID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return e, err
}

// StateBeforeStream is, for a room joined through another server, the
// state event of a type and key that was in force before the room's
// first event in our stream: the one in the state we joined with (an
// outlier, the deepest one below the first event of that key in the
// stream). Nil when there is none (a room we created).
func (s *Store) StateBeforeStream(ctx context.Context, roomNID int64, evType, stateKey string) (*Event, error) {
	e, err := scanEvent(s.db.Read.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE room_nid = $1 AND type = $2 AND state_key = $3 AND stream_pos IS NULL AND rejected = 0
		AND depth < COALESCE((SELECT MIN(depth) FROM events WHERE room_nid = $1 AND type = $2 AND state_key = $3 AND stream_pos IS NOT NULL), 9223372036854775807)
		ORDER BY depth DESC LIMIT 1`, roomNID, evType, stateKey))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return e, err
}
