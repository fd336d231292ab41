package roomserver

import (
	"context"
	"encoding/json"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// DescribeRoom is GET /room_summary (MSC3266): what a room is, for someone
// deciding whether to join. It shows what the hierarchy would show the
// user (members, invitees and those who may join, knock or read), with
// the user's membership; user "" is an unauthenticated caller, who sees
// world-readable rooms and rooms anyone may join or knock on. Any other
// room, and one this server does not know, is ErrRoomNotFound, so a
// summary never tells whether a hidden room exists.
func (s *Server) DescribeRoom(ctx context.Context, roomID, user string) (json.RawMessage, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	membership := ""
	if user != "" {
		if ev := r.get(spec.MRoomMember, user); ev != nil {
			membership, _ = ev.pdu.Membership()
		}
	}
	if membership != spec.Knock && !s.maySeeInHierarchy(ctx, r, user) {
		return nil, ErrRoomNotFound
	}
	chunk, err := hierarchyChunk(r, nil)
	if err != nil {
		return nil, err
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(chunk, &out); err != nil {
		return nil, err
	}
	delete(out, "children_state") // the hierarchy's, not the summary's
	if membership != "" {
		out["membership"], _ = json.Marshal(membership)
	}
	return json.Marshal(out)
}
