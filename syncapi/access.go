package syncapi

import (
	"context"
	"errors"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/tidwall/gjson"
)

// roomAccess is the window of a room's stream a user may read.
type roomAccess struct {
	roomID  string
	roomNID int64
	// from < pos <= upto bounds what may be readable; view decides each
	// event.
	from, upto int64
	joined     bool
	// membership is the user's current one in the room, "" for none.
	membership string
	view       *historyView
}

// access decides what part of a room's history a user may read: members
// see it (from their join for "joined"/"invited" history), former members
// up to when they left unless they forgot the room, anyone a
// world-readable room.
func (s *Server) access(ctx context.Context, dev *userapi.Device, roomID string) (*roomAccess, error) {
	if _, err := spec.NewRoomID(roomID); err != nil {
		return nil, mxhttp.InvalidParam("invalid room id")
	}
	room, err := s.events.RoomByID(ctx, roomID)
	if errors.Is(err, rsstorage.ErrNotFound) {
		return nil, mxhttp.Forbidden("You are not a member of this room")
	}
	if err != nil {
		return nil, err
	}
	// The committed stream, not the notifier's position: a client reading
	// right after its own send must see the event, even before the bus has
	// delivered it to the notifier.
	upto, err := s.events.MaxStreamPos(ctx)
	if err != nil {
		return nil, err
	}
	a := &roomAccess{roomID: roomID, roomNID: room.NID, from: minPosition, upto: max(upto, s.notifier.position().PDU)}
	hv := ""
	if ev, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomHistoryVisibility, ""); err == nil {
		hv = gjson.GetBytes(ev.Content, "history_visibility").String()
	} else if !errors.Is(err, roomserver.ErrEventNotFound) {
		return nil, err
	}
	ms, err := s.events.MembershipsOfUser(ctx, dev.UserID.String())
	if err != nil {
		return nil, err
	}
	member := false
	var ownPos int64
	for _, m := range ms {
		if m.RoomNID != room.NID {
			continue
		}
		a.membership, ownPos = m.Membership, m.StreamPos
		switch m.Membership {
		case spec.Join:
			a.joined, member = true, true
		case spec.Leave, spec.Ban:
			if m.Forgotten {
				// A forgotten room's history is no longer the user's
				// (the spec's forget); a world-readable one stays open,
				// as to anyone.
				continue
			}
			member = true
			if hv != "world_readable" {
				a.upto = min(a.upto, m.StreamPos)
			}
		}
	}
	if !member && hv != "world_readable" {
		return nil, mxhttp.Forbidden("You are not a member of this room")
	}
	if a.view, err = s.historyViewOf(ctx, room.NID, dev.UserID.String(), a.joined); err != nil {
		return nil, err
	}
	if a.membership != "" {
		a.view.knowMembership(a.membership, ownPos)
	}
	return a, nil
}
