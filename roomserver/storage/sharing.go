package storage

import (
	"context"
	"strconv"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Who shares rooms with whom, for device lists across servers
// (docs/decisions/0012).

// SharedRoomJoin is one room a user is joined to with some of the given
// server names' users: the user's join position and the earliest join
// position of those users there.
type SharedRoomJoin struct {
	UserID          string
	RoomNID         int64
	JoinPos         int64
	EarliestPeerPos int64
}

// JoinsSharedWith lists, for each of users, the rooms they are joined to
// that have joined members of the servers named (user ids ending in
// ":" + name), with the join positions on both sides.
func (s *Store) JoinsSharedWith(ctx context.Context, users []string, servers []string) ([]SharedRoomJoin, error) {
	if len(users) == 0 || len(servers) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(users)+len(servers))
	for _, u := range users {
		args = append(args, u)
	}
	var peers string
	for i, name := range servers {
		if i > 0 {
			peers += " OR "
		}
		peers += `l.user_id LIKE $` + strconv.Itoa(len(args)+1) + ` ESCAPE '\'`
		args = append(args, "%:"+sqlutil.LikeEscape(name))
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT r.user_id, r.room_nid, r.stream_pos, MIN(l.stream_pos)
		FROM memberships r JOIN memberships l ON l.room_nid = r.room_nid AND l.membership = 'join'
		WHERE r.user_id IN (`+sqlutil.InList(1, len(users))+`) AND r.membership = 'join' AND (`+peers+`)
		GROUP BY r.user_id, r.room_nid, r.stream_pos`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SharedRoomJoin
	for rows.Next() {
		var j SharedRoomJoin
		if err := rows.Scan(&j.UserID, &j.RoomNID, &j.JoinPos, &j.EarliestPeerPos); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}
