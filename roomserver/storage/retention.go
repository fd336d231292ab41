package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// The retention jobs' queries (roomserver/retention.go).

// ForgottenRooms lists, by room id after after, up to limit rooms that
// local users were in and left behind: every local membership is leave
// or ban and forgotten, and the newest of them was sent before ts.
// localSuffixes are ":" and each local server name.
func (s *Store) ForgottenRooms(ctx context.Context, localSuffixes []string, after string, ts int64, limit int) ([]string, error) {
	args := []any{after}
	local := make([]string, len(localSuffixes))
	for i, suffix := range localSuffixes {
		args = append(args, "%"+escapeLike(suffix))
		local[i] = fmt.Sprintf(`m.user_id LIKE $%d ESCAPE '\'`, len(args))
	}
	args = append(args, ts, limit)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT r.room_id FROM rooms r
		JOIN memberships m ON m.room_nid = r.room_nid
		JOIN events e ON e.event_nid = m.event_nid
		WHERE r.room_id > $1 AND (`+strings.Join(local, " OR ")+`)
		GROUP BY r.room_id
		HAVING SUM(CASE WHEN m.membership IN ('leave', 'ban') AND m.forgotten = 1 THEN 0 ELSE 1 END) = 0
			AND MAX(e.origin_ts) < $`+fmt.Sprint(len(args)-1)+`
		ORDER BY r.room_id LIMIT $`+fmt.Sprint(len(args)), args...)
	return sqlutil.Strings(rows, err)
}

// RoomRetention is a room's m.room.retention policy in milliseconds; 0
// where the room's event sets none (or there is no event).
type RoomRetention struct {
	RoomID                   string
	MinLifetime, MaxLifetime int64
}

// RetentionPolicies lists, by room id after after, up to limit rooms with
// their retention policy.
func (s *Store) RetentionPolicies(ctx context.Context, after string, limit int) ([]RoomRetention, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT r.room_id, e.pdu FROM rooms r
		LEFT JOIN current_state cs ON cs.room_nid = r.room_nid AND cs.type = 'm.room.retention' AND cs.state_key = ''
		LEFT JOIN events e ON e.event_nid = cs.event_nid
		WHERE r.room_id > $1 AND r.snapshot_nid <> 0
		ORDER BY r.room_id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RoomRetention
	for rows.Next() {
		var p RoomRetention
		var pdu []byte
		if err := rows.Scan(&p.RoomID, &pdu); err != nil {
			return nil, err
		}
		if pdu != nil {
			// Only whole positive numbers count, as in Synapse: a policy
			// with anything else there has no such limit.
			if v := gjson.GetBytes(pdu, "content.max_lifetime"); v.Type == gjson.Number && v.Int() > 0 && float64(v.Int()) == v.Float() {
				p.MaxLifetime = v.Int()
			}
			if v := gjson.GetBytes(pdu, "content.min_lifetime"); v.Type == gjson.Number && v.Int() > 0 && float64(v.Int()) == v.Float() {
				p.MinLifetime = v.Int()
			}
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
