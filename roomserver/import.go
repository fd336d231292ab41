package roomserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// A room joined through another server arrives whole: the resident server
// hands us the state before our join event and its auth chain (send_join),
// which the federation API has checked (signatures, hashes, auth) before
// it calls ImportJoin. The room's current state becomes that state and the
// join goes on top, in one batch: the room exists with our member in it,
// or not at all.

// ImportJoinRequest is a room joined through another server.
type ImportJoinRequest struct {
	RoomVersion string
	AuthChain   []gomatrixserverlib.PDU
	State       []gomatrixserverlib.PDU
	Join        gomatrixserverlib.PDU
}

// ImportJoin stores a room's state from a send_join answer and applies the
// join event on it.
func (s *Server) ImportJoin(ctx context.Context, req ImportJoinRequest) (*InputResult, error) {
	verImpl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(req.RoomVersion))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedVersion, req.RoomVersion)
	}
	if req.Join == nil || req.Join.Type() != spec.MRoomMember {
		return nil, fmt.Errorf("%w: no join event", ErrBadEvent)
	}
	// Judge the join before anything changes: a failing task must leave
	// the batch as it found it.
	provider, err := gomatrixserverlib.NewAuthEvents(nil)
	if err != nil {
		return nil, err
	}
	needed := gomatrixserverlib.StateNeededForAuth([]gomatrixserverlib.PDU{req.Join})
	wanted := map[[2]string]bool{}
	for _, t := range needed.Tuples() {
		wanted[[2]string{t.EventType, t.StateKey}] = true
	}
	for _, p := range req.State {
		if p.StateKey() == nil || p.RoomID().String() != req.Join.RoomID().String() {
			return nil, fmt.Errorf("%w: state event %s is not a state event of the room", ErrBadState, p.EventID())
		}
		if wanted[[2]string{p.Type(), *p.StateKey()}] {
			if err := provider.AddEvent(p); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadState, err)
			}
		}
	}
	if err := gomatrixserverlib.Allowed(req.Join, provider, userIDForSender); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrForbidden, err.Error())
	}
	roomID := req.Join.RoomID().String()
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		if known, err := b.eventByID(ctx, req.Join.EventID()); err != nil {
			return nil, err
		} else if known != nil && known.StreamPos != 0 {
			return InputResult{EventID: known.ID, Duplicate: true, StreamPos: known.StreamPos}, nil
		}
		r, err := b.room(ctx, roomID)
		if errors.Is(err, ErrRoomNotFound) {
			b.counters.RoomNID++
			r = &room{nid: b.counters.RoomNID, id: roomID, version: verImpl, visibility: "private", state: map[stateKey]*stateEvent{}}
			b.addRoom(r)
		} else if err != nil {
			return nil, err
		}
		if r.version.Version() != verImpl.Version() {
			return nil, fmt.Errorf("%w: room %s has version %s, not %s", ErrBadState, roomID, r.version.Version(), verImpl.Version())
		}
		stored := map[string]int64{}
		for _, list := range [][]gomatrixserverlib.PDU{req.AuthChain, req.State} {
			for _, p := range list {
				if _, ok := stored[p.EventID()]; ok {
					continue
				}
				known, err := b.eventByID(ctx, p.EventID())
				if err != nil {
					return nil, err
				}
				if known != nil {
					stored[p.EventID()] = known.NID
					continue
				}
				b.storeAside(r, p, 0, false)
				stored[p.EventID()] = b.counters.EventNID
			}
		}
		state := make(map[[2]string]int64, len(req.State))
		for _, p := range req.State {
			state[[2]string{p.Type(), *p.StateKey()}] = stored[p.EventID()]
		}
		if err := b.setCurrentState(ctx, r, state, b.counters.StreamPos+1); err != nil {
			return nil, err
		}
		// Our view of the DAG starts at the join; its prev_events are the
		// resident server's, which we need not hold.
		r.extremities = nil
		ev := b.apply(r, req.Join, eventMeta{})
		return InputResult{EventID: ev.ID, StreamPos: ev.StreamPos}, nil
	})
	if err != nil {
		return nil, err
	}
	out := res.(InputResult)
	return &out, nil
}
