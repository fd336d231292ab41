package roomserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// Invites cross servers before they enter a room: the inviting server
// builds and signs the event (BuildEvent), the invitee's server signs it
// too (/invite), and only then does it go into the room. The invitee's
// server is usually not in the room: it keeps the invite (and later a
// rejection) by itself (StoreOutOfRoomMembership), in a room that holds
// only its local members' membership until someone joins.

// BuildEvent builds, signs and authorises a local event on the room's
// current state without storing it.
func (s *Server) BuildEvent(ctx context.Context, req SendEventRequest) (gomatrixserverlib.PDU, error) {
	// Built in the input loop so that it sees what a send would; build
	// changes nothing in the batch.
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		r, err := b.room(ctx, req.RoomID)
		if err != nil {
			return nil, err
		}
		return b.build(r, req.Sender, req.Type, req.StateKey, req.Content, req.Redacts)
	})
	if err != nil {
		return nil, err
	}
	return res.(gomatrixserverlib.PDU), nil
}

// StoreOutOfRoomMembership keeps a membership event about a local user in
// a room no local user is joined to: an invite from another server, or
// the rejection of one. The event is stored with a stream position (so
// the user's /sync sees it) but is not part of the room's DAG as we know
// it; the room is created empty if we have never seen it.
func (s *Server) StoreOutOfRoomMembership(ctx context.Context, pdu gomatrixserverlib.PDU) (*InputResult, error) {
	if pdu.Type() != spec.MRoomMember || pdu.StateKey() == nil {
		return nil, fmt.Errorf("%w: not a member event", ErrBadEvent)
	}
	target, err := spec.NewUserID(*pdu.StateKey(), true)
	if err != nil || !s.isLocal(string(target.Domain())) {
		return nil, fmt.Errorf("%w: the member event is not about a local user", ErrBadEvent)
	}
	membership, err := pdu.Membership()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		if known, err := b.eventByID(ctx, pdu.EventID()); err != nil {
			return nil, err
		} else if known != nil {
			return InputResult{EventID: known.ID, Duplicate: true, StreamPos: known.StreamPos}, nil
		}
		roomID := pdu.RoomID().String()
		r, err := b.room(ctx, roomID)
		if errors.Is(err, ErrRoomNotFound) {
			verImpl, verr := gomatrixserverlib.GetRoomVersion(pdu.Version())
			if verr != nil {
				return nil, fmt.Errorf("%w: %s", ErrUnsupportedVersion, pdu.Version())
			}
			b.counters.RoomNID++
			r = &room{nid: b.counters.RoomNID, id: roomID, version: verImpl, visibility: "private", state: map[stateKey]*stateEvent{}}
			b.addRoom(r)
		} else if err != nil {
			return nil, err
		}
		b.counters.EventNID++
		b.counters.StreamPos++
		ev := storage.Event{
			NID: b.counters.EventNID, RoomNID: r.nid, ID: pdu.EventID(), StreamPos: b.counters.StreamPos,
			Type: pdu.Type(), StateKey: pdu.StateKey(), Sender: string(pdu.SenderID()), Depth: pdu.Depth(),
			OriginTS: int64(pdu.OriginServerTS()), Membership: membership, PDU: pdu.JSON(),
		}
		k := stateKey{EventType: spec.MRoomMember, StateKey: target.String()}
		ev.Client = clientJSON(pdu, r.state[k])
		r.setState(k, &stateEvent{nid: ev.NID, pdu: pdu, client: ev.Client})
		r.dirty = true
		b.write.Events = append(b.write.Events, ev)
		b.write.CurrentState = append(b.write.CurrentState, storage.CurrentStateRow{RoomNID: r.nid, Type: k.EventType, StateKey: k.StateKey, EventNID: ev.NID})
		b.write.Memberships = append(b.write.Memberships, storage.MembershipRow{RoomNID: r.nid, UserID: k.StateKey, Membership: membership, EventNID: ev.NID, StreamPos: ev.StreamPos})
		b.outputs = append(b.outputs, OutputEvent{
			RoomID: r.id, RoomNID: r.nid, EventID: ev.ID, StreamPos: ev.StreamPos, Type: ev.Type, StateKey: ev.StateKey,
			Sender: ev.Sender, Membership: membership, PDU: ev.PDU, Classified: true,
			Servers: r.serverNames(), Known: true,
		})
		return InputResult{EventID: ev.ID, StreamPos: ev.StreamPos}, nil
	})
	if err != nil {
		return nil, err
	}
	out := res.(InputResult)
	return &out, nil
}
