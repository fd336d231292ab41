package storage

import (
	"context"
	"strings"

	"github.com/tidwall/gjson"
)

// AvatarURIs are the mxc URIs users (profiles) and rooms (the current
// m.room.avatar) show as avatars, which the local media retention job
// keeps as Synapse does. They are read from the user API's and the
// roomserver's tables in the one database (decision 0001), read only.
func (s *Store) AvatarURIs(ctx context.Context) ([]string, error) {
	var out []string
	rows, err := s.db.Read.QueryContext(ctx, `SELECT avatar_url FROM profiles WHERE avatar_url LIKE 'mxc://%'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var uri string
		if err := rows.Scan(&uri); err != nil {
			return nil, err
		}
		out = append(out, uri)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rooms, err := s.db.Read.QueryContext(ctx, `SELECT e.pdu FROM current_state cs JOIN events e ON e.event_nid = cs.event_nid
		WHERE cs.type = 'm.room.avatar' AND cs.state_key = ''`)
	if err != nil {
		return nil, err
	}
	defer rooms.Close()
	for rooms.Next() {
		var pdu []byte
		if err := rooms.Scan(&pdu); err != nil {
			return nil, err
		}
		if uri := gjson.GetBytes(pdu, "content.url").String(); strings.HasPrefix(uri, "mxc://") {
			out = append(out, uri)
		}
	}
	return out, rooms.Err()
}
