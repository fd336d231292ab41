package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Sliding sync connections (MSC4186): what each connection was sent, in
// the database so that every sync server can serve the next request.

// ErrUnknownPos is a pos that names no live position of the connection.
var ErrUnknownPos = errors.New("unknown sliding sync position")

// Bounds of the stored connections.
const (
	// SlidingConnTTL is how long an unused connection is kept, in ms.
	SlidingConnTTL = int64(7 * 24 * 60 * 60 * 1000)
	// MaxSlidingConnsPerDevice bounds the conn_ids of one device; the
	// least recently used go first.
	MaxSlidingConnsPerDevice = 20
	maxLazyPerRoom           = 500
)

// SlidingRoom is what a connection has sent of one room.
type SlidingRoom struct {
	RoomID string
	// SentTo is the stream position up to which the room was sent.
	SentTo int64
	// RequiredState is the wire form of the required_state it was sent
	// with; loaded rooms may share it: read only.
	RequiredState [][]string
	TimelineLimit int
	LazyMembers   []string
}

// SlidingPosition is a position's stored state.
type SlidingPosition struct {
	ConnNID   int64
	Pos       int64
	Token     string
	ListsHash string
	// Rooms holds what the position has of the rooms LoadSlidingRooms
	// read.
	Rooms  map[string]*SlidingRoom
	loaded map[string]bool
}

// LoadSlidingPosition reads position pos of the user's connection, or
// ErrUnknownPos. What it has of each room is read by LoadSlidingRooms,
// for the rooms an answer looks at.
func (s *Store) LoadSlidingPosition(ctx context.Context, userID, deviceID, connID string, connNID, pos int64) (*SlidingPosition, error) {
	var acked int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT acked_pos FROM sliding_connections
		WHERE conn_nid = $1 AND user_id = $2 AND device_id = $3 AND conn_id = $4`, connNID, userID, deviceID, connID).Scan(&acked)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && pos < acked) {
		return nil, ErrUnknownPos
	}
	if err != nil {
		return nil, err
	}
	p := &SlidingPosition{ConnNID: connNID, Pos: pos, Rooms: map[string]*SlidingRoom{}, loaded: map[string]bool{}}
	err = s.db.Read.QueryRowContext(ctx, `SELECT token, lists_hash FROM sliding_positions WHERE conn_nid = $1 AND pos = $2`, connNID, pos).
		Scan(&p.Token, &p.ListsHash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnknownPos
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// LoadSlidingRooms reads what position p has of the rooms into p.Rooms
// (a room without an entry was never sent), skipping rooms read before.
func (s *Store) LoadSlidingRooms(ctx context.Context, p *SlidingPosition, roomIDs []string) error {
	var todo []string
	for _, id := range roomIDs {
		if !p.loaded[id] {
			p.loaded[id] = true
			todo = append(todo, id)
		}
	}
	for start := 0; start < len(todo); start += 500 {
		chunk := todo[start:min(start+500, len(todo))]
		args := []any{p.ConnNID, p.Pos}
		for _, id := range chunk {
			args = append(args, id)
		}
		if err := s.loadSlidingRooms(ctx, p, `SELECT room_id, pos, sent_to, required_state, timeline_limit, lazy_members
			FROM sliding_rooms WHERE conn_nid = $1 AND pos <= $2 AND room_id IN (`+sqlutil.InList(3, len(chunk))+`) ORDER BY pos`, args); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) loadSlidingRooms(ctx context.Context, p *SlidingPosition, query string, args []any) error {
	rows, err := s.db.Read.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	// The rooms of a list share their required_state: read once.
	parsed := map[string][][]string{}
	for rows.Next() {
		var r SlidingRoom
		var at int64
		var rs, lazy string
		if err := rows.Scan(&r.RoomID, &at, &r.SentTo, &rs, &r.TimelineLimit, &lazy); err != nil {
			return err
		}
		if v, ok := parsed[rs]; ok {
			r.RequiredState = v
		} else if err := json.Unmarshal([]byte(rs), &r.RequiredState); err != nil {
			return fmt.Errorf("sliding room %s: %w", r.RoomID, err)
		} else {
			parsed[rs] = r.RequiredState
		}
		if err := json.Unmarshal([]byte(lazy), &r.LazyMembers); err != nil {
			return fmt.Errorf("sliding room %s: %w", r.RoomID, err)
		}
		p.Rooms[r.RoomID] = &r // ordered by pos: the newest wins
	}
	return rows.Err()
}

// SlidingSave is one response to remember.
type SlidingSave struct {
	UserID, DeviceID, ConnID string
	// From is the position the request came with; nil starts the
	// connection afresh, dropping what it had.
	From      *SlidingPosition
	Token     string
	ListsHash string
	Rooms     []*SlidingRoom
	NowMS     int64
}

// SaveSlidingPosition stores a response and returns its connection and
// position. Sending position P confirms it: the rows it superseded and
// the positions after it (answers the client never got) are deleted.
func (s *Store) SaveSlidingPosition(ctx context.Context, v SlidingSave) (connNID, pos int64, err error) {
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if v.From == nil {
			connNID, pos, err = startConnection(tx, v)
			if err != nil {
				return err
			}
		} else {
			connNID = v.From.ConnNID
			if pos, err = confirmPosition(tx, v, connNID, v.From.Pos); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`INSERT INTO sliding_positions (conn_nid, pos, token, lists_hash) VALUES ($1, $2, $3, $4)`,
			connNID, pos, v.Token, v.ListsHash); err != nil {
			return err
		}
		for _, r := range v.Rooms {
			rs, _ := json.Marshal(r.RequiredState)
			lazy := r.LazyMembers
			if len(lazy) > maxLazyPerRoom {
				// Forgetting sends some member events again; never fewer.
				lazy = nil
			}
			lz, _ := json.Marshal(append([]string{}, lazy...))
			if _, err := tx.Exec(`INSERT INTO sliding_rooms (conn_nid, room_id, pos, sent_to, required_state, timeline_limit, lazy_members)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, connNID, r.RoomID, pos, r.SentTo, string(rs), r.TimelineLimit, string(lz)); err != nil {
				return err
			}
		}
		return nil
	})
	return connNID, pos, err
}

// startConnection replaces the user's connection of that conn_id by a new
// one, and drops expired connections and those over the device's bound.
func startConnection(tx *sql.Tx, v SlidingSave) (int64, int64, error) {
	var old []int64
	rows, err := tx.Query(`SELECT conn_nid FROM sliding_connections WHERE (user_id = $1 AND device_id = $2 AND conn_id = $3) OR last_used_ts < $4`,
		v.UserID, v.DeviceID, v.ConnID, v.NowMS-SlidingConnTTL)
	if err != nil {
		return 0, 0, err
	}
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return 0, 0, err
		}
		old = append(old, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	extra, err := sqlutil.Strings(tx.Query(`SELECT CAST(conn_nid AS TEXT) FROM sliding_connections WHERE user_id = $1 AND device_id = $2
		ORDER BY last_used_ts DESC LIMIT 1000 OFFSET $3`, v.UserID, v.DeviceID, MaxSlidingConnsPerDevice-1))
	if err != nil {
		return 0, 0, err
	}
	for _, e := range extra {
		var n int64
		if _, err := fmt.Sscan(e, &n); err == nil {
			old = append(old, n)
		}
	}
	if err := dropConnections(tx, old); err != nil {
		return 0, 0, err
	}
	nid := randomNID()
	_, err = tx.Exec(`INSERT INTO sliding_connections (conn_nid, user_id, device_id, conn_id, acked_pos, next_pos, last_used_ts)
		VALUES ($1, $2, $3, $4, 0, 2, $5)`, nid, v.UserID, v.DeviceID, v.ConnID, v.NowMS)
	return nid, 1, err
}

func dropConnections(tx *sql.Tx, nids []int64) error {
	if len(nids) == 0 {
		return nil
	}
	args := make([]any, len(nids))
	for i, n := range nids {
		args[i] = n
	}
	in := sqlutil.InList(1, len(nids))
	for _, table := range []string{"sliding_rooms", "sliding_positions", "sliding_connections"} {
		if _, err := tx.Exec(`DELETE FROM `+table+` WHERE conn_nid IN (`+in+`)`, args...); err != nil {
			return err
		}
	}
	return nil
}

// confirmPosition records that the client holds position from and
// allocates the next position.
func confirmPosition(tx *sql.Tx, v SlidingSave, connNID, from int64) (int64, error) {
	var acked, next int64
	err := tx.QueryRow(`SELECT acked_pos, next_pos FROM sliding_connections WHERE conn_nid = $1`, connNID).Scan(&acked, &next)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && from < acked) {
		return 0, ErrUnknownPos
	}
	if err != nil {
		return 0, err
	}
	if from > acked {
		// Rows of rooms that from rewrote are superseded, and positions
		// before from will never be sent again.
		if _, err := tx.Exec(`DELETE FROM sliding_rooms WHERE conn_nid = $1 AND pos < $2
			AND room_id IN (SELECT room_id FROM sliding_rooms WHERE conn_nid = $1 AND pos = $2)`, connNID, from); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(`DELETE FROM sliding_positions WHERE conn_nid = $1 AND pos < $2`, connNID, from); err != nil {
			return 0, err
		}
	}
	// Answers given after from were never received: the client came back
	// with from.
	if _, err := tx.Exec(`DELETE FROM sliding_rooms WHERE conn_nid = $1 AND pos > $2`, connNID, from); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(`DELETE FROM sliding_positions WHERE conn_nid = $1 AND pos > $2`, connNID, from); err != nil {
		return 0, err
	}
	_, err = tx.Exec(`UPDATE sliding_connections SET acked_pos = $1, next_pos = $2, last_used_ts = $3 WHERE conn_nid = $4`,
		from, next+1, v.NowMS, connNID)
	return next, err
}

// TouchSlidingConnection marks a connection used without a new position
// (an answer that repeats the position it was asked with).
func (s *Store) TouchSlidingConnection(ctx context.Context, connNID, nowMS int64) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE sliding_connections SET last_used_ts = $1 WHERE conn_nid = $2`, nowMS, connNID)
		return err
	})
}

func randomNID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:]) >> 2) // positive, and fits JavaScript-free decimal parsing
}

// SlidingRoomRow is one room of a user with what a sliding list needs:
// the membership, who set it, and the bump stamp (the position of the
// newest event of a bump type up to the requested position).
type SlidingRoomRow struct {
	RoomNID    int64
	RoomID     string
	Membership string
	EventNID   int64
	StreamPos  int64
	Forgotten  bool
	Sender     string
	Bump       int64
	// Latest is the position of the room's newest event up to the
	// requested position.
	Latest int64
}

// SlidingRooms lists the rooms the user has a membership of, in one
// query: all of them, or only those of roomNIDs when it is not nil. The
// bump stamp is a correlated lookup per room that walks the room's
// newest events backwards until one of a bump type.
func (s *Store) SlidingRooms(ctx context.Context, userID string, bumpTypes []string, upto int64, roomNIDs []int64) ([]SlidingRoomRow, error) {
	if roomNIDs != nil && len(roomNIDs) == 0 {
		return nil, nil
	}
	// SQLite numbers parameters in the order they first appear.
	args := []any{upto}
	for _, t := range bumpTypes {
		args = append(args, t)
	}
	args = append(args, userID)
	where := `m.user_id = $` + fmt.Sprint(len(args))
	if roomNIDs != nil {
		first := len(args) + 1
		for _, n := range roomNIDs {
			args = append(args, n)
		}
		where += ` AND m.room_nid IN (` + sqlutil.InList(first, len(roomNIDs)) + `)`
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT m.room_nid, r.room_id, m.membership, m.event_nid, m.stream_pos, m.forgotten, e.sender,
		COALESCE((SELECT b.stream_pos FROM events b WHERE b.room_nid = m.room_nid AND b.stream_pos IS NOT NULL AND b.stream_pos <= $1
			AND b.type IN (`+sqlutil.InList(2, len(bumpTypes))+`) ORDER BY b.stream_pos DESC LIMIT 1), 0),
		COALESCE((SELECT MAX(l.stream_pos) FROM events l WHERE l.room_nid = m.room_nid AND l.stream_pos <= $1), 0)
		FROM memberships m JOIN rooms r ON r.room_nid = m.room_nid JOIN events e ON e.event_nid = m.event_nid
		WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SlidingRoomRow
	for rows.Next() {
		var r SlidingRoomRow
		var forgotten int
		if err := rows.Scan(&r.RoomNID, &r.RoomID, &r.Membership, &r.EventNID, &r.StreamPos, &forgotten, &r.Sender, &r.Bump, &r.Latest); err != nil {
			return nil, err
		}
		r.Forgotten = forgotten != 0
		out = append(out, r)
	}
	return out, rows.Err()
}

// SlidingRoomsChanged lists what a room list read at position from must
// read again to be at position to: the rooms with an event in (from, to]
// (any room of the server: the caller keeps the user's), and the rooms
// where the user's membership changed in (from, to] (memberships with
// mine set). Every change of a membership row moves its stream position,
// except forgetting (see Forgotten). The cost follows the events since
// from, not the user's rooms.
func (s *Store) SlidingRoomsChanged(ctx context.Context, userID string, from, to int64) (rooms []int64, mine map[int64]bool, err error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT DISTINCT room_nid, 0 FROM events WHERE stream_pos > $1 AND stream_pos <= $2
		UNION SELECT room_nid, 1 FROM memberships WHERE user_id = $3 AND stream_pos > $1 AND stream_pos <= $2`, from, to, userID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	mine = map[int64]bool{}
	for rows.Next() {
		var nid int64
		var m int
		if err := rows.Scan(&nid, &m); err != nil {
			return nil, nil, err
		}
		if m == 1 {
			mine[nid] = true
		}
		rooms = append(rooms, nid)
	}
	return rooms, mine, rows.Err()
}

// Forgotten tells which of the rooms the user has forgotten. Forgetting
// sets a flag without a stream position, so a list kept between requests
// asks again for the left rooms it shows.
func (s *Store) Forgotten(ctx context.Context, userID string, roomNIDs []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	for start := 0; start < len(roomNIDs); start += 500 {
		chunk := roomNIDs[start:min(start+500, len(roomNIDs))]
		args := []any{userID}
		for _, n := range chunk {
			args = append(args, n)
		}
		rows, err := s.db.Read.QueryContext(ctx, `SELECT room_nid FROM memberships WHERE user_id = $1 AND forgotten != 0
			AND room_nid IN (`+sqlutil.InList(2, len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var n int64
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return nil, err
			}
			out[n] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadPositionsOf is ReadPositions for some rooms only.
func (s *Store) ReadPositionsOf(ctx context.Context, userID string, roomIDs []string) (map[string]int64, error) {
	out := map[string]int64{}
	for start := 0; start < len(roomIDs); start += 500 {
		chunk := roomIDs[start:min(start+500, len(roomIDs))]
		args := []any{userID}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, MAX(event_pos) FROM receipts
			WHERE user_id = $1 AND room_id IN (`+sqlutil.InList(2, len(chunk))+`) AND receipt_type IN ('m.read', 'm.read.private')
			AND thread_id IN ('', 'main') GROUP BY room_id`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var room string
			var pos int64
			if err := rows.Scan(&room, &pos); err != nil {
				rows.Close()
				return nil, err
			}
			out[room] = pos
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// StateRow is one current state event in its client form.
type StateRow struct {
	RoomNID  int64
	Type     string
	StateKey string
	Client   []byte
}

// StateSelection picks rows of a room's current state: every non-member
// type, these types whatever the key, these exact pairs, every member or
// these members.
type StateSelection struct {
	AllTypes   bool
	Types      []string
	Pairs      [][2]string
	AllMembers bool
	Members    []string
}

// CurrentStateOf reads the selected current state of rooms, in one query.
func (s *Store) CurrentStateOf(ctx context.Context, roomNIDs []int64, sel StateSelection) ([]StateRow, error) {
	if len(roomNIDs) == 0 {
		return nil, nil
	}
	var args []any
	param := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	rooms := make([]string, len(roomNIDs))
	for i, n := range roomNIDs {
		rooms[i] = param(n)
	}
	var or []string
	switch {
	case sel.AllTypes:
		or = append(or, "c.type != 'm.room.member'")
	default:
		if len(sel.Types) > 0 {
			ts := make([]string, len(sel.Types))
			for i, t := range sel.Types {
				ts[i] = param(t)
			}
			or = append(or, "c.type IN ("+strings.Join(ts, ", ")+")")
		}
		for _, p := range sel.Pairs {
			or = append(or, "(c.type = "+param(p[0])+" AND c.state_key = "+param(p[1])+")")
		}
	}
	switch {
	case sel.AllMembers:
		or = append(or, "c.type = 'm.room.member'")
	case len(sel.Members) > 0:
		ms := make([]string, len(sel.Members))
		for i, m := range sel.Members {
			ms[i] = param(m)
		}
		or = append(or, "(c.type = 'm.room.member' AND c.state_key IN ("+strings.Join(ms, ", ")+"))")
	}
	if len(or) == 0 {
		return nil, nil
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT c.room_nid, c.type, c.state_key, e.client FROM current_state c
		JOIN events e ON e.event_nid = c.event_nid WHERE c.room_nid IN (`+strings.Join(rooms, ", ")+`) AND (`+strings.Join(or, " OR ")+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StateRow
	for rows.Next() {
		var r StateRow
		if err := rows.Scan(&r.RoomNID, &r.Type, &r.StateKey, &r.Client); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReceiptsBetween returns every room's receipts with from < pos <= to.
func (s *Store) ReceiptsBetween(ctx context.Context, from, to int64) ([]Receipt, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT stream_pos, room_id, user_id, receipt_type, thread_id, event_id, event_pos, ts
		FROM receipts WHERE stream_pos > $1 AND stream_pos <= $2`, from, to)
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

// ReceiptsOfRooms returns the receipts of the rooms up to position to.
func (s *Store) ReceiptsOfRooms(ctx context.Context, roomIDs []string, to int64) ([]Receipt, error) {
	var out []Receipt
	for start := 0; start < len(roomIDs); start += 500 {
		chunk := roomIDs[start:min(start+500, len(roomIDs))]
		args := []any{to}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := s.db.Read.QueryContext(ctx, `SELECT stream_pos, room_id, user_id, receipt_type, thread_id, event_id, event_pos, ts
			FROM receipts WHERE stream_pos <= $1 AND room_id IN (`+sqlutil.InList(2, len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r Receipt
			if err := rows.Scan(&r.StreamPos, &r.RoomID, &r.UserID, &r.Type, &r.ThreadID, &r.EventID, &r.EventPos, &r.TS); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
