package storage

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
)

// This file serves the admin API's room list (adminapi), which reads the
// room tables directly (docs/decisions/0020).

// AdminRoom is a room as the admin room list shows it.
type AdminRoom struct {
	RoomID, Version, Visibility string
	StateEvents                 int
	JoinedMembers               int
	JoinedLocalMembers          int
	// State holds the content of the room's name, canonical alias,
	// create, join rules, guest access, history visibility and encryption
	// events, by type, and Creator the create event's sender.
	State   map[string]json.RawMessage
	Creator string
}

// adminRoomStateTypes are the state events (empty state key) the room
// list reads.
var adminRoomStateTypes = []string{"m.room.name", "m.room.canonical_alias", "m.room.create", "m.room.join_rules",
	"m.room.guest_access", "m.room.history_visibility", "m.room.encryption", "m.room.topic", "m.room.avatar"}

// AdminRooms lists every room with current state; localSuffix (":"
// and the server name) tells local members. roomID, if set, limits it to
// that room.
func (s *Store) AdminRooms(ctx context.Context, localSuffix, roomID string) ([]AdminRoom, error) {
	cond, args := "", []any{"%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(localSuffix)}
	if roomID != "" {
		cond = " AND r.room_id = $2"
		args = append(args, roomID)
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT r.room_id, r.room_version, r.visibility,
		(SELECT COUNT(*) FROM current_state cs WHERE cs.room_nid = r.room_nid),
		(SELECT COUNT(*) FROM memberships m WHERE m.room_nid = r.room_nid AND m.membership = 'join'),
		(SELECT COUNT(*) FROM memberships m WHERE m.room_nid = r.room_nid AND m.membership = 'join' AND m.user_id LIKE $1 ESCAPE '\')
		FROM rooms r WHERE r.snapshot_nid <> 0`+cond, args...)
	if err != nil {
		return nil, err
	}
	var out []AdminRoom
	index := map[string]int{}
	for rows.Next() {
		var r AdminRoom
		if err := rows.Scan(&r.RoomID, &r.Version, &r.Visibility, &r.StateEvents, &r.JoinedMembers, &r.JoinedLocalMembers); err != nil {
			rows.Close()
			return nil, err
		}
		r.State = map[string]json.RawMessage{}
		index[r.RoomID] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	stateArgs := []any{}
	ph := make([]string, len(adminRoomStateTypes))
	for i, t := range adminRoomStateTypes {
		stateArgs = append(stateArgs, t)
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	stateCond := ""
	if roomID != "" {
		stateArgs = append(stateArgs, roomID)
		stateCond = " AND r.room_id = $" + strconv.Itoa(len(stateArgs))
	}
	rows, err = s.db.Read.QueryContext(ctx, `SELECT r.room_id, cs.type, e.sender, e.client FROM current_state cs
		JOIN rooms r ON r.room_nid = cs.room_nid JOIN events e ON e.event_nid = cs.event_nid
		WHERE cs.state_key = '' AND cs.type IN (`+strings.Join(ph, ", ")+`)`+stateCond, stateArgs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, typ, sender string
			client          []byte
		)
		if err := rows.Scan(&id, &typ, &sender, &client); err != nil {
			return nil, err
		}
		i, ok := index[id]
		if !ok {
			continue
		}
		var ev struct {
			Content json.RawMessage `json:"content"`
		}
		if json.Unmarshal(client, &ev) == nil {
			out[i].State[typ] = ev.Content
		}
		if typ == "m.room.create" {
			out[i].Creator = sender
		}
	}
	return out, rows.Err()
}

// ServerRoom is a room with members of some server, and the stream
// position of its newest event.
type ServerRoom struct {
	RoomID    string
	StreamPos int64
}

// RoomsOfServer lists the rooms where users of server are joined: the
// rooms whose events go to it (the admin API's destination rooms).
func (s *Store) RoomsOfServer(ctx context.Context, server string) ([]ServerRoom, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT r.room_id, COALESCE((SELECT MAX(e.stream_pos) FROM events e WHERE e.room_nid = r.room_nid), 0)
		FROM rooms r WHERE EXISTS (SELECT 1 FROM memberships m WHERE m.room_nid = r.room_nid AND m.membership = 'join'
		AND m.user_id LIKE $1 ESCAPE '\') ORDER BY r.room_id`, "%:"+strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(server))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ServerRoom{}
	for rows.Next() {
		var r ServerRoom
		if err := rows.Scan(&r.RoomID, &r.StreamPos); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
