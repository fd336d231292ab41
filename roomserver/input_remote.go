package roomserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/tidwall/gjson"
)

// Events built elsewhere (by remote servers) enter through InputEvents and
// take the same batch, apply and commit path as local ones. Each is checked
// against its own auth events and against the state before it (computed
// from its prev_events, resolving forks with state resolution); one that
// fails is stored as rejected. One that passes but would not be allowed on
// top of the current state is soft-failed: stored, never shown, never an
// extremity. Outliers are stored by themselves, outside the timeline.

// InputKind says how an event from elsewhere enters a room.
type InputKind int

const (
	// InputNew is a new event at the edge of the room's DAG.
	InputNew InputKind = iota
	// InputOutlier is an event known only by itself (an auth chain or
	// state entry): stored and checked against its auth events, never in
	// the timeline or the current state.
	InputOutlier
)

// InputEvent is one event from elsewhere; its signatures must have been
// checked by the caller (the federation API, which holds the key ring).
type InputEvent struct {
	Kind InputKind
	PDU  gomatrixserverlib.PDU
	// PrevStates are, for prev_events we do not have in the timeline, the
	// state after each of them as another server told it (/state_ids at
	// the prev event, plus the prev event itself when it is a state
	// event); the state events must be stored already (as outliers). The
	// state before the event is then the resolution of these and of the
	// states after the prev events we do have.
	PrevStates [][]string
	// Separately: a failure of this event is its own, reported in its
	// result, and the other events of the call go on. Events of one
	// federation transaction are input so, in one batch and one commit.
	Separately bool
}

// InputResult is what became of one input event.
type InputResult struct {
	EventID    string
	Duplicate  bool
	Rejected   bool
	SoftFailed bool
	StreamPos  int64
	// Err is why an event input Separately failed; Gap says the reason
	// was prev or auth events we lack.
	Err string `json:",omitempty"`
	Gap bool   `json:",omitempty"`
}

// Errors that tell the caller what to fetch before trying again.
var (
	ErrMissingPrevEvents = errors.New("missing prev_events")
	ErrMissingAuthEvents = errors.New("missing auth_events")
)

// InputEvents runs events from elsewhere through the input path, in order.
func (s *Server) InputEvents(ctx context.Context, events []InputEvent) ([]InputResult, error) {
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		out := make([]InputResult, 0, len(events))
		for _, in := range events {
			m := b.mark()
			r, err := b.inputRemote(ctx, in)
			if err != nil {
				if !in.Separately {
					return nil, fmt.Errorf("event %s: %w", in.PDU.EventID(), err)
				}
				// As for a failed task (commitBatch): its rows go, and
				// inputRemote checks before it changes the room.
				b.reset(m)
				r = InputResult{EventID: in.PDU.EventID(), Err: err.Error(),
					Gap: errors.Is(err, ErrMissingPrevEvents) || errors.Is(err, ErrMissingAuthEvents)}
			}
			out = append(out, r)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return res.([]InputResult), nil
}

func (b *batch) inputRemote(ctx context.Context, in InputEvent) (InputResult, error) {
	pdu := in.PDU
	res := InputResult{EventID: pdu.EventID()}
	if known, err := b.eventByID(ctx, pdu.EventID()); err != nil {
		return res, err
	} else if known != nil {
		res.Duplicate = true
		return res, nil
	}
	r, err := b.room(ctx, pdu.RoomID().String())
	if err != nil {
		return res, err
	}
	if len(pdu.JSON()) > maxEventSize {
		return res, fmt.Errorf("%w: event exceeds %d bytes", ErrTooLarge, maxEventSize)
	}
	authEvents, err := b.authEventsOf(ctx, r, pdu)
	if err != nil {
		return res, err
	}
	// What comes before an event is fetched before the event is judged,
	// also when it will be rejected: the events between may be good ones
	// that the room's history needs (and the rejected event stays a link
	// of the DAG).
	if in.Kind == InputNew && len(in.PrevStates) == 0 {
		if missing, err := b.missingPrevs(ctx, r, pdu); err != nil {
			return res, err
		} else if len(missing) > 0 {
			return res, fmt.Errorf("%w: %s", ErrMissingPrevEvents, missing[0])
		}
	}
	if gomatrixserverlib.Allowed(pdu, authEvents, userIDForSender) != nil {
		res.Rejected = true
		b.storeAside(r, pdu, 0, true)
		return res, nil
	}
	if in.Kind == InputOutlier {
		b.storeAside(r, pdu, 0, false)
		return res, nil
	}
	var before map[[2]string]int64
	if len(in.PrevStates) > 0 {
		before, err = b.stateBeforeGiven(ctx, r, pdu, in.PrevStates)
	} else {
		before, err = b.stateBefore(ctx, r, pdu)
	}
	if err != nil {
		return res, err
	}
	provider, err := b.authProvider(ctx, r, before, pdu)
	if err != nil {
		return res, err
	}
	if gomatrixserverlib.Allowed(pdu, provider, userIDForSender) != nil {
		res.Rejected = true
		b.storeAside(r, pdu, 0, true)
		return res, nil
	}
	if wrong, err := b.redactsOtherRoom(ctx, r, pdu); err != nil {
		return res, err
	} else if wrong {
		// A redaction of another room's event is not an event of this
		// room's history either.
		res.Rejected = true
		b.storeAside(r, pdu, 0, true)
		return res, nil
	}
	if authorise(r, pdu) != nil {
		// Soft-failed: never shown, never an extremity, but part of the
		// DAG: later events may build on it, so the state before it is
		// kept like any event's.
		res.SoftFailed = true
		b.counters.SnapshotNID++
		b.write.Snapshots = append(b.write.Snapshots, storage.Snapshot{NID: b.counters.SnapshotNID, RoomNID: r.nid, Delta: entries(before)})
		b.storeAside(r, pdu, b.counters.SnapshotNID, false)
		return res, nil
	}
	wereExtremities := slices.Clone(r.extremities)
	var hole *storage.Hole
	if len(in.PrevStates) > 0 {
		if hole, err = b.reserveHole(ctx, r, pdu); err != nil {
			return res, err
		}
	}
	var ev *storage.Event
	if maps.Equal(before, r.stateNIDs()) {
		ev = b.apply(r, pdu, eventMeta{})
	} else if ev, err = b.applyFork(ctx, r, pdu, before); err != nil {
		return res, err
	}
	res.StreamPos = ev.StreamPos
	if hole != nil {
		hole.EventNID, hole.EventID, hole.EventPos = ev.NID, ev.ID, ev.StreamPos
		b.write.Holes = append(b.write.Holes, *hole)
	}
	if err := b.dropExtremitiesBehindAside(ctx, r, pdu, wereExtremities); err != nil {
		return res, err
	}
	// A redaction from elsewhere redacts when its sender may: power, or
	// the same server as the event's sender. One that may not stays in
	// the timeline and redacts nothing.
	if t, err := b.checkRedaction(ctx, r, pdu, true); err == nil && t != nil {
		b.applyRedaction(r, t, ev)
	} else if err != nil && !errors.Is(err, ErrForbidden) {
		return res, err
	}
	return res, nil
}

// stateNIDs is the room's current state as a key -> event nid map.
func (r *room) stateNIDs() map[[2]string]int64 {
	out := make(map[[2]string]int64, len(r.state))
	for k, ev := range r.state {
		out[[2]string{k.EventType, k.StateKey}] = ev.nid
	}
	return out
}

// maxAsideWalk bounds the events dropExtremitiesBehindAside looks at.
const maxAsideWalk = 100

// dropExtremitiesBehindAside: pdu, just accepted, builds on its prev
// events, which are no longer extremities (advance). Where a prev event is
// soft-failed or rejected, the events that one builds on have a successor
// now too: they stop being extremities as well, back through any chain of
// such events. A soft-failed event on its own changes no extremity (the
// spec: it is never one, and a second soft-failed event on the same
// parent must not hide that parent); an accepted event after it does
// (SyTest's two soft-fail extremity tests, after Synapse's rule). Prev
// events that were extremities are accepted ones: the common case costs
// no lookup.
func (b *batch) dropExtremitiesBehindAside(ctx context.Context, r *room, pdu gomatrixserverlib.PDU, wereExtremities []string) error {
	queue := slices.DeleteFunc(slices.Clone(pdu.PrevEventIDs()), func(id string) bool { return slices.Contains(wereExtremities, id) })
	seen := map[string]bool{}
	for len(queue) > 0 && len(seen) < maxAsideWalk {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		ev, err := b.eventByID(ctx, id)
		if err != nil {
			return err
		}
		softFailed := ev != nil && ev.StreamPos == 0 && ev.SnapshotBefore != 0
		if ev == nil || ev.RoomNID != r.nid || !(softFailed || ev.Rejected) {
			continue
		}
		p, err := b.parse(r, ev)
		if err != nil {
			continue
		}
		prevs := p.PrevEventIDs()
		r.extremities = slices.DeleteFunc(r.extremities, func(x string) bool { return slices.Contains(prevs, x) })
		r.dirty = true
		queue = append(queue, prevs...)
	}
	return nil
}

// eventByID finds an event in this batch or the database, or nil.
func (b *batch) eventByID(ctx context.Context, id string) (*storage.Event, error) {
	for i := range b.write.Events {
		if b.write.Events[i].ID == id {
			return &b.write.Events[i], nil
		}
	}
	e, err := b.s.store.EventByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return e, err
}

// eventsByNID loads events from this batch or the database.
func (b *batch) eventsByNID(ctx context.Context, nids []int64) (map[int64]*storage.Event, error) {
	out := make(map[int64]*storage.Event, len(nids))
	var missing []int64
	pending := map[int64]*storage.Event{}
	for i := range b.write.Events {
		pending[b.write.Events[i].NID] = &b.write.Events[i]
	}
	for _, nid := range nids {
		if e, ok := pending[nid]; ok {
			out[nid] = e
		} else {
			missing = append(missing, nid)
		}
	}
	loaded, err := b.s.store.EventsByNID(ctx, missing)
	if err != nil {
		return nil, err
	}
	for _, e := range loaded {
		out[e.NID] = e
	}
	return out, nil
}

// snapshot loads a snapshot from this batch or the database.
func (b *batch) snapshot(ctx context.Context, nid int64) (*storage.Snapshot, error) {
	for i := range b.write.Snapshots {
		if b.write.Snapshots[i].NID == nid {
			return &b.write.Snapshots[i], nil
		}
	}
	return b.s.store.Snapshot(ctx, nid)
}

func (b *batch) parse(r *room, e *storage.Event) (gomatrixserverlib.PDU, error) {
	return r.version.NewEventFromTrustedJSONWithEventID(e.ID, e.PDU, e.Redacted)
}

// authEventsOf loads the events an event names as its auth events. An
// event that builds on the room as it is now names current state events,
// which are in memory: then nothing is read.
func (b *batch) authEventsOf(ctx context.Context, r *room, pdu gomatrixserverlib.PDU) (*gomatrixserverlib.AuthEvents, error) {
	current := map[string]gomatrixserverlib.PDU{}
	for _, t := range gomatrixserverlib.StateNeededForAuth([]gomatrixserverlib.PDU{pdu}).Tuples() {
		if ev := r.get(t.EventType, t.StateKey); ev != nil {
			current[ev.pdu.EventID()] = ev.pdu
		}
	}
	var pdus []gomatrixserverlib.PDU
	for _, id := range pdu.AuthEventIDs() {
		if p, ok := current[id]; ok {
			pdus = append(pdus, p)
			continue
		}
		e, err := b.eventByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, fmt.Errorf("%w: %s", ErrMissingAuthEvents, id)
		}
		if e.RoomNID != r.nid || e.Rejected {
			// An auth event of another room, or one we rejected, authorises
			// nothing here; without it the event fails the auth rules.
			continue
		}
		p, err := b.parse(r, e)
		if err != nil {
			return nil, err
		}
		pdus = append(pdus, p)
	}
	// Rooms whose id derives from the create event do not list it.
	if r.version.DomainlessRoomIDs() {
		if create := r.get(spec.MRoomCreate, ""); create != nil {
			pdus = append(pdus, create.pdu)
		}
	}
	return gomatrixserverlib.NewAuthEvents(pdus)
}

// stateAfter is the state after a stored event.
func (b *batch) stateAfter(ctx context.Context, e *storage.Event) (map[[2]string]int64, error) {
	state, err := storage.WalkSnapshots(e.SnapshotBefore, func(nid int64) (*storage.Snapshot, error) { return b.snapshot(ctx, nid) })
	if err != nil {
		return nil, err
	}
	if e.StateKey != nil && !e.Rejected {
		state[[2]string{e.Type, *e.StateKey}] = e.NID
	}
	return state, nil
}

// stateBefore computes the state before an event from its prev_events,
// resolving the states after each of them when they differ.
func (b *batch) stateBefore(ctx context.Context, r *room, pdu gomatrixserverlib.PDU) (map[[2]string]int64, error) {
	// The usual case: the event follows the room's one forward
	// extremity, after which the state is the current state (an
	// extremity is never rejected or soft-failed).
	if prevs := pdu.PrevEventIDs(); len(prevs) == 1 && len(r.extremities) == 1 && prevs[0] == r.extremities[0] {
		return r.stateNIDs(), nil
	}
	return b.stateBeforeDepth(ctx, r, pdu, 0)
}

// maxRejectedChain bounds how many rejected events in a row stateBefore
// looks through.
const maxRejectedChain = 10

func (b *batch) stateBeforeDepth(ctx context.Context, r *room, pdu gomatrixserverlib.PDU, depth int) (map[[2]string]int64, error) {
	var sets []map[[2]string]int64
	for _, id := range pdu.PrevEventIDs() {
		e, err := b.eventByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if e == nil || isOutlier(e) {
			return nil, fmt.Errorf("%w: %s", ErrMissingPrevEvents, id)
		}
		if e.RoomNID != r.nid {
			return nil, fmt.Errorf("%w: prev event %s is of another room", ErrBadEvent, id)
		}
		var st map[[2]string]int64
		if e.Rejected && e.SnapshotBefore == 0 {
			// A rejected event changes no state: the state after it is
			// the state before it, from its own prev events.
			if depth >= maxRejectedChain {
				return nil, fmt.Errorf("%w: more than %d rejected events in a row", ErrBadEvent, maxRejectedChain)
			}
			prev, err := b.parse(r, e)
			if err != nil {
				return nil, err
			}
			st, err = b.stateBeforeDepth(ctx, r, prev, depth+1)
			if err != nil {
				return nil, err
			}
		} else if st, err = b.stateAfter(ctx, e); err != nil {
			return nil, err
		}
		sets = append(sets, st)
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%w: event has no prev_events", ErrBadEvent)
	}
	return b.resolve(ctx, r, sets)
}

// stateBeforeGiven resolves the states after the prev events we have
// with the states another server gave for those we lack.
func (b *batch) stateBeforeGiven(ctx context.Context, r *room, pdu gomatrixserverlib.PDU, given [][]string) (map[[2]string]int64, error) {
	var sets []map[[2]string]int64
	for _, id := range pdu.PrevEventIDs() {
		e, err := b.eventByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if e == nil || e.RoomNID != r.nid || isOutlier(e) {
			continue
		}
		st, err := b.stateAfter(ctx, e)
		if err != nil {
			return nil, err
		}
		sets = append(sets, st)
	}
	for _, ids := range given {
		st, err := b.stateFromIDs(ctx, r, ids)
		if err != nil {
			return nil, err
		}
		sets = append(sets, st)
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%w: no state before the event", ErrBadEvent)
	}
	return b.resolve(ctx, r, sets)
}

// stateFromIDs is a state map of stored state events of the room.
func (b *batch) stateFromIDs(ctx context.Context, r *room, ids []string) (map[[2]string]int64, error) {
	out := make(map[[2]string]int64, len(ids))
	for _, id := range ids {
		e, err := b.eventByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, fmt.Errorf("%w: state event %s", ErrMissingAuthEvents, id)
		}
		if e.RoomNID != r.nid || e.StateKey == nil {
			return nil, fmt.Errorf("%w: %s is not a state event of the room", ErrBadState, id)
		}
		if !e.Rejected {
			out[[2]string{e.Type, *e.StateKey}] = e.NID
		}
	}
	return out, nil
}

// resolve runs the room version's state resolution over state sets.
func (b *batch) resolve(ctx context.Context, r *room, sets []map[[2]string]int64) (map[[2]string]int64, error) {
	if len(sets) == 1 {
		return sets[0], nil
	}
	agree := true
	for _, s := range sets[1:] {
		if !maps.Equal(s, sets[0]) {
			agree = false
		}
	}
	if agree {
		return sets[0], nil
	}
	var nids []int64
	for _, s := range sets {
		for _, nid := range s {
			nids = append(nids, nid)
		}
	}
	evs, err := b.eventsByNID(ctx, nids)
	if err != nil {
		return nil, err
	}
	pdus := map[int64]gomatrixserverlib.PDU{}
	rejected := map[string]bool{}
	for nid, e := range evs {
		p, err := b.parse(r, e)
		if err != nil {
			return nil, err
		}
		pdus[nid] = p
		rejected[e.ID] = e.Rejected
	}
	stateSets := make([][]gomatrixserverlib.PDU, len(sets))
	for i, s := range sets {
		for _, nid := range s {
			if p := pdus[nid]; p != nil {
				stateSets[i] = append(stateSets[i], p)
			}
		}
	}
	chain, err := b.authChain(ctx, r, pdus)
	if err != nil {
		return nil, err
	}
	resolved, err := gomatrixserverlib.ResolveConflictsNew(r.version.Version(), stateSets, chain, userIDForSender,
		func(id string) bool { return rejected[id] })
	if err != nil {
		return nil, fmt.Errorf("state resolution: %w", err)
	}
	byID := map[string]int64{}
	for nid, p := range pdus {
		byID[p.EventID()] = nid
	}
	out := map[[2]string]int64{}
	for _, p := range resolved {
		if p.StateKey() != nil {
			out[[2]string{p.Type(), *p.StateKey()}] = byID[p.EventID()]
		}
	}
	return out, nil
}

// authChain loads every event in the auth chains of the given events.
func (b *batch) authChain(ctx context.Context, r *room, from map[int64]gomatrixserverlib.PDU) ([]gomatrixserverlib.PDU, error) {
	seen := map[string]bool{}
	var out []gomatrixserverlib.PDU
	var queue []string
	for _, p := range from {
		queue = append(queue, p.AuthEventIDs()...)
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		e, err := b.eventByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if e == nil || e.RoomNID != r.nid {
			continue
		}
		p, err := b.parse(r, e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
		queue = append(queue, p.AuthEventIDs()...)
	}
	return out, nil
}

// authProvider is the part of a state map the auth rules need for pdu.
func (b *batch) authProvider(ctx context.Context, r *room, state map[[2]string]int64, pdu gomatrixserverlib.PDU) (*gomatrixserverlib.AuthEvents, error) {
	needed := gomatrixserverlib.StateNeededForAuth([]gomatrixserverlib.PDU{pdu})
	var (
		nids []int64
		pdus []gomatrixserverlib.PDU
	)
	for _, t := range needed.Tuples() {
		nid, ok := state[[2]string{t.EventType, t.StateKey}]
		if !ok {
			continue
		}
		// Current state is in memory; only older state is read.
		if ev := r.get(t.EventType, t.StateKey); ev != nil && ev.nid == nid {
			pdus = append(pdus, ev.pdu)
			continue
		}
		nids = append(nids, nid)
	}
	evs, err := b.eventsByNID(ctx, nids)
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		p, err := b.parse(r, e)
		if err != nil {
			return nil, err
		}
		pdus = append(pdus, p)
	}
	return gomatrixserverlib.NewAuthEvents(pdus)
}

// storeAside stores an event that is not part of the timeline: an outlier,
// a rejected or a soft-failed event.
func (b *batch) storeAside(r *room, pdu gomatrixserverlib.PDU, snapshot int64, rejected bool) {
	b.counters.EventNID++
	b.write.Events = append(b.write.Events, storage.Event{
		NID: b.counters.EventNID, RoomNID: r.nid, ID: pdu.EventID(), Type: pdu.Type(), StateKey: pdu.StateKey(),
		Sender: string(pdu.SenderID()), Depth: pdu.Depth(), OriginTS: int64(pdu.OriginServerTS()), SnapshotBefore: snapshot,
		Rejected: rejected, PDU: pdu.JSON(), Client: clientJSON(pdu, nil),
	})
}

// applyFork adds an event whose state before differs from the room's
// current state (it builds on an older or another branch of the DAG): it
// gets a snapshot of its own, and the new current state is the resolution
// of the current state and the state after the event.
func (b *batch) applyFork(ctx context.Context, r *room, pdu gomatrixserverlib.PDU, before map[[2]string]int64) (*storage.Event, error) {
	b.counters.SnapshotNID++
	beforeSnap := storage.Snapshot{NID: b.counters.SnapshotNID, RoomNID: r.nid, Delta: entries(before)}
	b.write.Snapshots = append(b.write.Snapshots, beforeSnap)

	b.counters.EventNID++
	b.counters.StreamPos++
	ev := storage.Event{
		NID: b.counters.EventNID, RoomNID: r.nid, ID: pdu.EventID(), StreamPos: b.counters.StreamPos,
		Type: pdu.Type(), StateKey: pdu.StateKey(), Sender: string(pdu.SenderID()), Depth: pdu.Depth(),
		OriginTS: int64(pdu.OriginServerTS()), SnapshotBefore: beforeSnap.NID, PDU: pdu.JSON(),
	}
	// As for any other event (apply.go); the room's current state stands
	// in for the state before a forked event when judging @room.
	classifyPush(r, pdu, &ev)
	ev.SearchText = SearchText(pdu.Type(), pdu.Content())
	if rel := gjson.GetBytes(pdu.Content(), `m\.relates_to`); rel.IsObject() {
		ev.RelatesTo, ev.RelType = rel.Get("event_id").String(), rel.Get("rel_type").String()
	}
	after := maps.Clone(before)
	var prev *stateEvent
	if sk := pdu.StateKey(); sk != nil {
		k := [2]string{pdu.Type(), *sk}
		if nid, ok := before[k]; ok {
			if evs, err := b.eventsByNID(ctx, []int64{nid}); err == nil && evs[nid] != nil {
				if p, err := b.parse(r, evs[nid]); err == nil {
					prev = &stateEvent{nid: nid, pdu: p}
				}
			}
		}
		after[k] = ev.NID
		if pdu.Type() == spec.MRoomMember {
			ev.Membership, _ = pdu.Membership()
		}
	}
	ev.Client = clientJSON(pdu, prev)
	b.write.Events = append(b.write.Events, ev)

	resolved, err := b.resolve(ctx, r, []map[[2]string]int64{r.stateNIDs(), after})
	if err != nil {
		return nil, err
	}
	if err := b.setCurrentState(ctx, r, resolved, ev.StreamPos); err != nil {
		return nil, err
	}
	r.advance(pdu)
	b.outputs = append(b.outputs, OutputEvent{
		RoomID: r.id, RoomNID: r.nid, EventID: ev.ID, StreamPos: ev.StreamPos, Type: ev.Type, StateKey: ev.StateKey,
		Sender: ev.Sender, Membership: ev.Membership, PDU: ev.PDU, PushClass: ev.PushClass, Mentions: ev.Mentions, Classified: true,
		Servers: r.serverNames(), Known: true,
	})
	return &b.write.Events[len(b.write.Events)-1], nil
}

// setCurrentState replaces the room's current state with a resolved one,
// writing the entries that changed and a full snapshot.
func (b *batch) setCurrentState(ctx context.Context, r *room, state map[[2]string]int64, pos int64) error {
	current := r.stateNIDs()
	var changed []int64
	for k, nid := range state {
		if current[k] != nid {
			changed = append(changed, nid)
		}
	}
	evs, err := b.eventsByNID(ctx, changed)
	if err != nil {
		return err
	}
	for k, nid := range state {
		if current[k] == nid {
			continue
		}
		e := evs[nid]
		if e == nil {
			return fmt.Errorf("state event %d not found", nid)
		}
		p, err := b.parse(r, e)
		if err != nil {
			return err
		}
		r.setState(stateKey{EventType: k[0], StateKey: k[1]}, &stateEvent{nid: nid, pdu: p, client: e.Client})
		b.write.CurrentState = append(b.write.CurrentState, storage.CurrentStateRow{RoomNID: r.nid, Type: k[0], StateKey: k[1], EventNID: nid})
		if k[0] == spec.MRoomMember {
			m, _ := p.Membership()
			b.write.Memberships = append(b.write.Memberships, storage.MembershipRow{RoomNID: r.nid, UserID: k[1], Membership: m, EventNID: nid, StreamPos: pos})
		}
	}
	b.counters.SnapshotNID++
	b.write.Snapshots = append(b.write.Snapshots, storage.Snapshot{NID: b.counters.SnapshotNID, RoomNID: r.nid, Delta: entries(state)})
	r.snapshot, r.snapshotChain = b.counters.SnapshotNID, 0
	return nil
}

func entries(state map[[2]string]int64) []storage.StateEntry {
	out := make([]storage.StateEntry, 0, len(state))
	for k, nid := range state {
		out = append(out, storage.StateEntry{Type: k[0], StateKey: k[1], EventNID: nid})
	}
	return out
}

// redactsOtherRoom tells whether pdu is a redaction whose target we hold
// in another room.
func (b *batch) redactsOtherRoom(ctx context.Context, r *room, pdu gomatrixserverlib.PDU) (bool, error) {
	target := redactsOf(pdu)
	if pdu.Type() != spec.MRoomRedaction || target == "" {
		return false, nil
	}
	e, err := b.eventByID(ctx, target)
	if err != nil || e == nil {
		return false, err
	}
	return e.RoomNID != r.nid, nil
}

// isOutlier tells whether a stored event stands outside the DAG as we know
// it: no place in the timeline, not rejected, no state before it (a
// soft-failed event has one).
func isOutlier(e *storage.Event) bool {
	return e.StreamPos == 0 && !e.Rejected && e.SnapshotBefore == 0
}
