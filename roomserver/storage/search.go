package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/tidwall/gjson"
)

// SearchQuery is what /search looks for: events in the rooms whose search
// text contains every word, before the stream position Before (0: all).
type SearchQuery struct {
	RoomNIDs []int64
	Words    []string
	Types    []string
	// Senders and NotSenders filter by sender when not empty.
	Senders, NotSenders []string
	// ContainsURL, when set, keeps only events with (or without) a url.
	ContainsURL *bool
	// Visible limits rooms to the stream positions the searcher may see;
	// a room without an entry is searched whole, one with an empty list
	// not at all.
	Visible map[int64][]PosRange
	Before  int64
	Limit   int
}

// PosRange is the stream positions After < pos <= Upto; Upto 0 is no
// upper bound.
type PosRange struct {
	After, Upto int64
}

func (q SearchQuery) where() (string, []any) {
	var b strings.Builder
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	in := func(vals []string) string {
		start := len(args) + 1
		for _, v := range vals {
			args = append(args, v)
		}
		return sqlutil.InList(start, len(vals))
	}
	// Room nids and stream positions are integers of ours, not client
	// input.
	var whole []string
	var parts []string
	for _, n := range q.RoomNIDs {
		ranges, limited := q.Visible[n]
		if !limited {
			whole = append(whole, fmt.Sprint(n))
			continue
		}
		for _, r := range ranges {
			cond := fmt.Sprintf("(room_nid = %d AND stream_pos > %d", n, r.After)
			if r.Upto > 0 {
				cond += fmt.Sprintf(" AND stream_pos <= %d", r.Upto)
			}
			parts = append(parts, cond+")")
		}
	}
	if len(whole) > 0 {
		parts = append(parts, "room_nid IN ("+strings.Join(whole, ",")+")")
	}
	if len(parts) == 0 {
		parts = []string{"1 = 0"}
	}
	b.WriteString("(" + strings.Join(parts, " OR ") + ") AND search_text IS NOT NULL AND search_text != ''")
	for _, w := range q.Words {
		b.WriteString(" AND search_text LIKE " + arg("%"+sqlutil.LikeEscape(w)+"%") + ` ESCAPE '\'`)
	}
	if len(q.Types) > 0 {
		b.WriteString(" AND type IN (" + in(q.Types) + ")")
	}
	if len(q.Senders) > 0 {
		b.WriteString(" AND sender IN (" + in(q.Senders) + ")")
	}
	if len(q.NotSenders) > 0 {
		b.WriteString(" AND sender NOT IN (" + in(q.NotSenders) + ")")
	}
	if q.ContainsURL != nil {
		if *q.ContainsURL {
			b.WriteString(" AND has_url = 1")
		} else {
			b.WriteString(" AND has_url = 0")
		}
	}
	if q.Before > 0 {
		b.WriteString(" AND stream_pos < " + arg(q.Before))
	}
	return b.String(), args
}

// Search returns the newest matching events first.
func (s *Store) Search(ctx context.Context, q SearchQuery) ([]*Event, error) {
	if len(q.RoomNIDs) == 0 || len(q.Words) == 0 {
		return nil, nil
	}
	where, args := q.where()
	args = append(args, q.Limit)
	return scanEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE `+where+
		fmt.Sprintf(` ORDER BY stream_pos DESC LIMIT $%d`, len(args)), args...))
}

// SearchCount is how many events match, regardless of Before and Limit.
func (s *Store) SearchCount(ctx context.Context, q SearchQuery) (int, error) {
	if len(q.RoomNIDs) == 0 || len(q.Words) == 0 {
		return 0, nil
	}
	q.Before = 0
	where, args := q.where()
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE `+where, args...).Scan(&n)
	return n, err
}

// SearchRooms are the rooms with matching events, regardless of Before
// and Limit.
func (s *Store) SearchRooms(ctx context.Context, q SearchQuery) ([]int64, error) {
	if len(q.RoomNIDs) == 0 || len(q.Words) == 0 {
		return nil, nil
	}
	q.Before = 0
	where, args := q.where()
	rows, err := s.db.Read.QueryContext(ctx, `SELECT DISTINCT room_nid FROM events WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var nid int64
		if err := rows.Scan(&nid); err != nil {
			return nil, err
		}
		out = append(out, nid)
	}
	return out, rows.Err()
}

// BackfillSearchText gives events stored before the search column their
// search text, a page at a time; it returns how many it did.
func (s *Store) BackfillSearchText(ctx context.Context, text func(evType string, content []byte) string) (int, error) {
	const page = 500
	done := 0
	for {
		rows, err := s.db.Read.QueryContext(ctx, `SELECT event_nid, type, pdu FROM events WHERE search_text IS NULL AND redacted = 0
			AND type IN ('m.room.message', 'm.room.name', 'm.room.topic') LIMIT $1`, page)
		if err != nil {
			return done, err
		}
		type row struct {
			nid  int64
			text string
		}
		var batch []row
		for rows.Next() {
			var nid int64
			var evType string
			var pdu []byte
			if err := rows.Scan(&nid, &evType, &pdu); err != nil {
				rows.Close()
				return done, err
			}
			batch = append(batch, row{nid, text(evType, contentOf(pdu))})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return done, err
		}
		if len(batch) == 0 {
			return done, nil
		}
		err = s.db.Write(ctx, func(tx *sql.Tx) error {
			for _, r := range batch {
				if _, err := tx.ExecContext(ctx, `UPDATE events SET search_text = $1 WHERE event_nid = $2`, r.text, r.nid); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		done += len(batch)
	}
}

// contentOf is the content object of a PDU.
func contentOf(pdu []byte) []byte {
	return []byte(gjson.GetBytes(pdu, "content").Raw)
}
