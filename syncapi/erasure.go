package syncapi

import (
	"context"

	"github.com/matrix-org/gomatrixserverlib"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Erasure (POST /account/deactivate with erase: true): users who join a
// room after the erasure are served redacted copies of the erased user's
// events; users who could see them before still see them whole. Judged
// per event: whoever was joined when the event was sent saw it.

// maybeErase returns e, or a redacted copy when its sender is erased and
// the user was not joined when it was sent.
func (v *historyView) maybeErase(e *rsstorage.Event, user string) *rsstorage.Event {
	if !v.erased[e.Sender] || v.version == nil {
		return e
	}
	own := e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == user
	if before(v.membership, e.StreamPos, own, "leave") == "join" {
		return e
	}
	redacted, err := v.version.RedactEventJSON(e.PDU)
	if err != nil {
		return e
	}
	client, err := sjson.SetRawBytes(e.Client, "content", []byte(gjson.GetBytes(redacted, "content").Raw))
	if err != nil {
		return e
	}
	cp := *e
	cp.Client = client
	return &cp
}

// loadErasure prepares a view to redact erased users' events: it needs
// the room version and the user's membership history.
func (s *Server) loadErasure(ctx context.Context, v *historyView, roomNID int64, user string) error {
	v.erased = s.erased.Snapshot()
	if v.erased == nil {
		return nil
	}
	room, err := s.events.RoomByNID(ctx, roomNID)
	if err != nil {
		return err
	}
	if v.version, err = gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(room.Version)); err != nil {
		return err
	}
	if v.membership == nil {
		ms, err := s.events.StateHistory(ctx, roomNID, "m.room.member", user)
		if err != nil {
			return err
		}
		for _, e := range ms {
			v.membership = append(v.membership, stateChange{e.StreamPos, e.Membership})
		}
	}
	return nil
}
