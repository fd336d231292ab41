package roomserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// A hole is history missing in the middle of a room's timeline. An event
// from another server whose prev events the federation API could not
// fetch (the gap was too long, or the sender would not give it) is judged
// on the state that server gave (InputEvent.PrevStates) and enters the
// timeline with its past missing. Positions are commit order and /sync
// reads forward from a token, so the missing history cannot be put
// between two stored events later unless room was left for it: such an
// event is placed holeSpan positions further up, and the positions below
// it stay free. A client paging back over the event (/messages) has the
// federation API fetch the history (/backfill from the events we lack)
// into them, newest first, checked against their own auth events like
// any backfilled event. /sync has gone past those positions, so it never
// shows the history as new; nothing is published.
//
// One hole is filled at a time (the input loop runs one task at a time);
// it is closed when no event we lack is left at its edge or its positions
// are used up.

// holeSpan is how many positions a hole keeps free: more history than any
// outage leaves a room with, and cheap (a position is only a number).
const holeSpan = 1 << 20

// maxHoleEdge bounds the events at a hole's edge a /backfill starts from.
const maxHoleEdge = 20

// missingPrevs are the prev events of pdu that are not in the room's
// timeline here: unknown, or known only as outliers.
func (b *batch) missingPrevs(ctx context.Context, r *room, pdu gomatrixserverlib.PDU) ([]string, error) {
	prevs := pdu.PrevEventIDs()
	if len(prevs) == 1 && len(r.extremities) == 1 && prevs[0] == r.extremities[0] {
		return nil, nil
	}
	var missing []string
	for _, id := range prevs {
		e, err := b.eventByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if e == nil || isOutlier(e) {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// reserveHole leaves room below pdu, an event about to enter the timeline
// without (all of) its past: the positions up to the one pdu takes next.
// Nil when nothing is missing before it.
func (b *batch) reserveHole(ctx context.Context, r *room, pdu gomatrixserverlib.PDU) (*storage.Hole, error) {
	missing, err := b.missingPrevs(ctx, r, pdu)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	floor := b.counters.StreamPos
	b.counters.StreamPos += holeSpan
	return &storage.Hole{RoomNID: r.nid, FloorPos: floor, NextPos: b.counters.StreamPos, Missing: truncated(missing, maxHoleEdge)}, nil
}

// Hole is an open hole of a room's timeline: history missing right
// below EventID, of which Missing are the newest events.
type Hole struct {
	RoomID  string
	EventID string
	Missing []string
}

// HoleBelow is the open hole right below an event of a room
// (ErrEventNotFound when there is none): where backfill starts to fill it.
func (s *Server) HoleBelow(ctx context.Context, roomID, eventID string) (*Hole, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	h, err := s.store.HoleBelow(ctx, eventID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && h.RoomNID != r.nid) {
		return nil, ErrEventNotFound
	}
	if err != nil {
		return nil, err
	}
	return &Hole{RoomID: roomID, EventID: h.EventID, Missing: h.Missing}, nil
}

// FillHole stores events of the history missing below eventID, newest
// first in the hole's free positions, each checked against its own auth
// events. The result's Missing is the hole's new edge; empty when the
// hole is closed.
func (s *Server) FillHole(ctx context.Context, roomID, eventID string, pdus []gomatrixserverlib.PDU) (*BackfillResult, error) {
	sorted := slices.Clone(pdus)
	slices.SortStableFunc(sorted, func(a, b gomatrixserverlib.PDU) int { return int(b.Depth() - a.Depth()) })
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		r, err := b.room(ctx, roomID)
		if err != nil {
			return nil, err
		}
		h, err := b.hole(ctx, eventID)
		if err != nil || h == nil {
			return &BackfillResult{}, err
		}
		out := &BackfillResult{}
		// done are the events this fill dealt with; edge their prev
		// events, the candidates for the hole's new edge. Only events
		// the hole's edge leads to are its history (wanted): whatever else
		// a server sends has no place in it.
		done := map[string]bool{}
		wanted := map[string]bool{}
		for _, id := range h.Missing {
			wanted[id] = true
		}
		var edge []string
		for _, p := range sorted {
			if h.Full() {
				break
			}
			if p.RoomID().String() != roomID {
				return nil, fmt.Errorf("%w: event %s is not of room %s", ErrBadEvent, p.EventID(), roomID)
			}
			if done[p.EventID()] || !wanted[p.EventID()] {
				continue
			}
			known, err := b.eventByID(ctx, p.EventID())
			if err != nil {
				return nil, err
			}
			switch {
			case known != nil && isOutlier(known) && !b.inBatch(known.NID):
				// A state event that came with the state we judged the
				// hole's event on now gets its place in the history.
				b.write.Positioned = append(b.write.Positioned, storage.PositionRow{EventNID: known.NID, StreamPos: h.NextPos})
				h.NextPos--
				out.Stored++
			case known != nil:
				// Below the hole already, or rejected: its past is not the
				// hole's.
				done[p.EventID()] = true
				continue
			default:
				auth, err := b.authEventsOf(ctx, r, p)
				if errors.Is(err, ErrMissingAuthEvents) {
					out.MissingAuth = append(out.MissingAuth, p.EventID())
					continue
				}
				if err != nil {
					return nil, err
				}
				if gomatrixserverlib.Allowed(p, auth, userIDForSender) != nil {
					b.storeAside(r, p, 0, true)
				} else {
					b.storeAt(r, p, h.NextPos)
					h.NextPos--
					out.Stored++
				}
			}
			done[p.EventID()] = true
			for _, prev := range p.PrevEventIDs() {
				wanted[prev] = true
				edge = append(edge, prev)
			}
		}
		missing, err := b.holeEdge(ctx, append(slices.Clone(h.Missing), edge...), done)
		if err != nil {
			return nil, err
		}
		h.Missing = truncated(missing, maxHoleEdge)
		switch {
		case len(h.Missing) == 0:
			b.write.ClosedHoles = append(b.write.ClosedHoles, h.EventNID)
		case h.Full():
			slog.Info("room history: hole full, the rest of its history stays missing", "room_id", roomID, "event_id", eventID)
			b.write.ClosedHoles = append(b.write.ClosedHoles, h.EventNID)
			h.Missing = nil
		default:
			b.write.Holes = append(b.write.Holes, *h)
		}
		out.Missing = h.Missing
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*BackfillResult), nil
}

// hole is the hole below an event as this batch leaves it, or nil when
// there is none (any more).
func (b *batch) hole(ctx context.Context, eventID string) (*storage.Hole, error) {
	for i := len(b.write.Holes) - 1; i >= 0; i-- {
		if h := b.write.Holes[i]; h.EventID == eventID {
			if slices.Contains(b.write.ClosedHoles, h.EventNID) {
				return nil, nil
			}
			h.Missing = slices.Clone(h.Missing)
			return &h, nil
		}
	}
	h, err := b.s.store.HoleBelow(ctx, eventID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && slices.Contains(b.write.ClosedHoles, h.EventNID)) {
		return nil, nil
	}
	return h, err
}

// holeEdge keeps of ids those not dealt with and not in the timeline (or
// rejected) here: the events the next /backfill asks for.
func (b *batch) holeEdge(ctx context.Context, ids []string, done map[string]bool) ([]string, error) {
	var out []string
	for _, id := range ids {
		if done[id] || slices.Contains(out, id) {
			continue
		}
		e, err := b.eventByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if e == nil || isOutlier(e) {
			out = append(out, id)
		}
	}
	return out, nil
}

func truncated(ids []string, n int) []string {
	if len(ids) > n {
		return ids[:n]
	}
	return ids
}
