package roomserver

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/tidwall/gjson"
)

// A room joined through another server starts, for us, at our join: what
// came before lives on the servers that were there. Backfill stores such
// history when a client pages back to it. Backfilled events are older
// than everything in the stream, so they take positions below it
// (Counters.HistoryPos, counting down, newest first): /messages pages into
// them like any other event, and /sync, which only looks forward, never
// treats them as new. They change neither the current state nor the
// forward extremities, and nothing is published: no pushes, no sending.

// BackfillResult tells what a backfill stored and which events could not
// be judged because their auth events are missing (the caller fetches
// those and tries again).
type BackfillResult struct {
	Stored      int
	MissingAuth []string
	// Missing is, after FillHole, the events at the hole's edge still
	// lacking: empty once the hole is closed.
	Missing []string `json:",omitempty"`
}

// EarliestEvent is the oldest event of the room's timeline: where a
// backfill starts from, and, when it is the create event, a sign that
// there is nothing before it.
func (s *Server) EarliestEvent(ctx context.Context, roomID string) (*Event, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	e, err := s.store.EarliestEvent(ctx, r.nid)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrEventNotFound
	}
	if err != nil {
		return nil, err
	}
	return &Event{RoomID: roomID, EventID: e.ID, Type: e.Type, StateKey: e.StateKey, Sender: e.Sender, StreamPos: e.StreamPos, Client: e.Client}, nil
}

// Backfill stores events of the room's history, each checked against its
// own auth events (the state before a historical event is not known).
func (s *Server) Backfill(ctx context.Context, roomID string, pdus []gomatrixserverlib.PDU) (*BackfillResult, error) {
	sorted := slices.Clone(pdus)
	slices.SortStableFunc(sorted, func(a, b gomatrixserverlib.PDU) int { return int(b.Depth() - a.Depth()) })
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		out := &BackfillResult{}
		r, err := b.room(ctx, roomID)
		if err != nil {
			return nil, err
		}
		for _, p := range sorted {
			if p.RoomID().String() != roomID {
				return nil, fmt.Errorf("%w: event %s is not of room %s", ErrBadEvent, p.EventID(), roomID)
			}
			known, err := b.eventByID(ctx, p.EventID())
			if err != nil {
				return nil, err
			}
			if known != nil {
				// An outlier (a state event that came with our join) now
				// gets its place in the history.
				if isOutlier(known) && !b.inBatch(known.NID) {
					b.counters.HistoryPos--
					b.write.Positioned = append(b.write.Positioned, storage.PositionRow{EventNID: known.NID, StreamPos: b.counters.HistoryPos})
					out.Stored++
				}
				continue
			}
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
				continue
			}
			b.storeHistory(r, p)
			out.Stored++
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*BackfillResult), nil
}

// storeHistory stores a historical event at the next position below the
// stream.
func (b *batch) storeHistory(r *room, p gomatrixserverlib.PDU) {
	b.counters.HistoryPos--
	b.storeAt(r, p, b.counters.HistoryPos)
}

// storeAt stores a historical event at a position of the room's past: it
// changes neither the current state nor the forward extremities.
func (b *batch) storeAt(r *room, p gomatrixserverlib.PDU, pos int64) {
	b.counters.EventNID++
	ev := storage.Event{
		NID: b.counters.EventNID, RoomNID: r.nid, ID: p.EventID(), StreamPos: pos,
		Type: p.Type(), StateKey: p.StateKey(), Sender: string(p.SenderID()), Depth: p.Depth(),
		OriginTS: int64(p.OriginServerTS()), PDU: p.JSON(), Client: clientJSON(p, nil),
	}
	if p.Type() == spec.MRoomMember {
		ev.Membership, _ = p.Membership()
	}
	ev.HasURL = gjson.GetBytes(p.Content(), "url").Type == gjson.String
	ev.SearchText = SearchText(p.Type(), p.Content())
	if rel := gjson.GetBytes(p.Content(), `m\.relates_to`); rel.IsObject() {
		ev.RelatesTo, ev.RelType = rel.Get("event_id").String(), rel.Get("rel_type").String()
	}
	b.write.Events = append(b.write.Events, ev)
}

// inBatch tells whether an event was added by this batch.
func (b *batch) inBatch(nid int64) bool {
	for i := range b.write.Events {
		if b.write.Events[i].NID == nid {
			return true
		}
	}
	return false
}
