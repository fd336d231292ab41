package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/roomserver"
)

// Gaps: a PDU whose prev_events we lack is preceded by the events between
// our forward extremities and it, fetched from its sender page by page
// (/get_missing_events); what is still missing then is judged on the
// state the sender gives at the missing prev events (/state_ids, /state).
// Decision 0013, "What other servers send".

const (
	// missingEventsPage is what one /get_missing_events asks for;
	// maxGapEvents bounds what one gap fill fetches in all. A server back
	// from an outage may get only a room's newest event (Synapse trims its
	// catch-up so), with everything it missed behind it: the gap is
	// fetched page by page, backwards, so that its users can read all of
	// it. Beyond maxGapEvents the rest is judged on the state the sender
	// gives (inputWithState) and stays a gap.
	missingEventsPage = 50
	maxGapEvents      = 1000
	// A page of fewer than fullPage events says the sender has no more
	// to give (servers cap the limit, Synapse at 20 or less, so a page
	// need not be missingEventsPage long to be full); a later page gets
	// laterPageTimeout, after which the gap fill goes on without it.
	fullPage         = 10
	laterPageTimeout = 15 * time.Second
)

// fetchGap fetches from origin the events between earliest (our
// forward extremities) and pdu, page by page: each page walks back from
// the gap's edge, the fetched events whose prev events neither the pages
// so far nor we hold (gapEdge).
func (s *Server) fetchGap(ctx context.Context, local, origin spec.ServerName, verImpl gomatrixserverlib.IRoomVersion, roomID string, earliest []string, pdu gomatrixserverlib.PDU) ([]gomatrixserverlib.PDU, error) {
	fetched := map[string]gomatrixserverlib.PDU{}
	var out []gomatrixserverlib.PDU
	latest := []string{pdu.EventID()}
	for len(latest) > 0 && len(out) < maxGapEvents {
		pageCtx, cancel := ctx, context.CancelFunc(func() {})
		if len(out) > 0 {
			pageCtx, cancel = context.WithTimeout(ctx, laterPageTimeout)
		}
		res, err := s.client.LookupMissingEvents(pageCtx, local, origin, roomID, fclient.MissingEvents{
			Limit: missingEventsPage, EarliestEvents: earliest, LatestEvents: latest,
		}, verImpl.Version())
		cancel()
		if err != nil {
			if len(out) > 0 {
				break // a later page failed: fill what we have
			}
			return nil, err
		}
		added := 0
		for _, ev := range res.Events.UntrustedEvents(verImpl.Version()) {
			if _, seen := fetched[ev.EventID()]; seen || ev.EventID() == pdu.EventID() {
				continue
			}
			fetched[ev.EventID()] = ev
			out = append(out, ev)
			added++
		}
		if added < fullPage {
			break
		}
		if latest, err = s.gapEdge(ctx, roomID, out, fetched); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// gapEdge are the events of evs with a prev event that is neither among
// fetched nor held here: the next page walks back from them (a page holds
// what precedes its latest_events, not those themselves).
func (s *Server) gapEdge(ctx context.Context, roomID string, evs []gomatrixserverlib.PDU, fetched map[string]gomatrixserverlib.PDU) ([]string, error) {
	var prevs []string
	for _, ev := range evs {
		for _, prev := range ev.PrevEventIDs() {
			if _, ok := fetched[prev]; !ok && !slices.Contains(prevs, prev) {
				prevs = append(prevs, prev)
			}
		}
	}
	if len(prevs) == 0 {
		return nil, nil
	}
	held, err := s.rooms.EventsByID(ctx, roomID, prevs)
	if err != nil {
		return nil, err
	}
	unknown := slices.DeleteFunc(prevs, func(id string) bool {
		return slices.ContainsFunc(held, func(p gomatrixserverlib.PDU) bool { return p.EventID() == id })
	})
	var edge []string
	for _, ev := range evs {
		if slices.ContainsFunc(ev.PrevEventIDs(), func(id string) bool { return slices.Contains(unknown, id) }) {
			edge = append(edge, ev.EventID())
		}
	}
	// The spec does not bound latest_events; keep the request small.
	if len(edge) > maxMissingPrevs*4 {
		edge = edge[:maxMissingPrevs*4]
	}
	return edge, nil
}

// fillGap fetches the events between our newest ones and pdu from origin
// (/get_missing_events) and inputs them oldest first. An event it brings
// whose own prev_events we still lack is judged on the state the sender
// gives for those (inputWithState): it was pulled, and the gap behind it
// may be long. pdu itself is live: when the sender will not bring what
// comes before it, it is dropped, not judged on state the sender chose.
func (s *Server) fillGap(ctx context.Context, origin spec.ServerName, verImpl gomatrixserverlib.IRoomVersion, pdu gomatrixserverlib.PDU) error {
	roomID := pdu.RoomID().String()
	local := s.localNameFor(ctx, roomID)
	earliest, err := s.rooms.Extremities(ctx, roomID)
	if err != nil {
		return err
	}
	events, err := s.fetchGap(ctx, local, origin, verImpl, roomID, earliest, pdu)
	if err != nil {
		return fmt.Errorf("event %s: prev events missing, and %s did not give them: %w", pdu.EventID(), origin, err)
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].Depth() < events[j].Depth() })
	for _, ev := range events {
		if ev.EventID() == pdu.EventID() || ev.RoomID().String() != roomID {
			continue
		}
		if s.verifySignatures(ctx, ev) != nil {
			continue
		}
		err := s.input(ctx, ev, roomserver.InputNew)
		if isGap(err) {
			err = s.inputWithState(ctx, origin, local, verImpl, ev)
		}
		if err != nil && !errors.Is(err, errRejected) {
			slog.Info("federation: missing event refused", "event_id", ev.EventID(), "err", err)
		}
	}
	return s.input(ctx, pdu, roomserver.InputNew)
}

func isGap(err error) bool {
	return errors.Is(err, roomserver.ErrMissingPrevEvents) || errors.Is(err, roomserver.ErrMissingAuthEvents)
}

// inputWithState judges pdu without the gap before it: for each of its
// prev_events we lack, origin tells the state at that event
// (/state_ids), we fetch whichever of those events (and the prev event
// itself) we lack, one by one or all at once (/state) when we lack many,
// store them as outliers, each checked against its own auth events, and
// the roomserver resolves the states after the prev events into the state
// before pdu.
func (s *Server) inputWithState(ctx context.Context, origin, local spec.ServerName, verImpl gomatrixserverlib.IRoomVersion, pdu gomatrixserverlib.PDU) error {
	roomID := pdu.RoomID().String()
	prevs := pdu.PrevEventIDs()
	have, err := s.rooms.EventsByID(ctx, roomID, prevs)
	if err != nil {
		return err
	}
	var missingPrevs []string
	for _, id := range prevs {
		if !slices.ContainsFunc(have, func(p gomatrixserverlib.PDU) bool { return p.EventID() == id }) {
			missingPrevs = append(missingPrevs, id)
		}
	}
	if len(missingPrevs) > maxMissingPrevs {
		return fmt.Errorf("event %s: %d prev events missing, at most %d are fetched", pdu.EventID(), len(missingPrevs), maxMissingPrevs)
	}
	var states [][]string
	for _, prev := range missingPrevs {
		st, err := s.stateAfterRemote(ctx, origin, local, verImpl, roomID, prev)
		if err != nil {
			return fmt.Errorf("state at %s from %s: %w", prev, origin, err)
		}
		states = append(states, st)
	}
	if len(states) == 0 {
		// The prev events are there but outliers: judge on the state at
		// the event itself.
		st, err := s.stateAtRemote(ctx, origin, local, verImpl, roomID, pdu.EventID())
		if err != nil {
			return err
		}
		states = append(states, st)
	}
	res, err := s.rooms.InputEvents(ctx, []roomserver.InputEvent{{Kind: roomserver.InputNew, PDU: pdu, PrevStates: states}})
	if err != nil {
		return err
	}
	if res[0].Rejected {
		return fmt.Errorf("event %s: %w", pdu.EventID(), errRejected)
	}
	return nil
}

// maxMissingPrevs bounds the state fetches one event may cause.
const maxMissingPrevs = 5

// stateAfterRemote is the state after event prev as origin has it: the
// state at it, plus prev itself when it is a state event.
func (s *Server) stateAfterRemote(ctx context.Context, origin, local spec.ServerName, verImpl gomatrixserverlib.IRoomVersion, roomID, prev string) ([]string, error) {
	ids, err := s.stateAtRemote(ctx, origin, local, verImpl, roomID, prev, prev)
	if err != nil {
		return nil, err
	}
	evs, err := s.rooms.EventsByID(ctx, roomID, append([]string{prev}, ids...))
	if err != nil {
		return nil, err
	}
	var p gomatrixserverlib.PDU
	for _, ev := range evs {
		if ev.EventID() == prev {
			p = ev
		}
	}
	if p == nil || p.StateKey() == nil {
		return ids, nil
	}
	// prev replaces the state entry of its own type and key.
	kept := make([]string, 0, len(ids)+1)
	for _, ev := range evs {
		if ev.EventID() != prev && !(ev.Type() == p.Type() && ev.StateKeyEquals(*p.StateKey())) && slices.Contains(ids, ev.EventID()) {
			kept = append(kept, ev.EventID())
		}
	}
	return append(kept, prev), nil
}

// stateAtRemote asks origin for the state at an event (/state_ids),
// stores the events of it we lack (and the extra ones named) as outliers,
// and returns the state's event ids.
func (s *Server) stateAtRemote(ctx context.Context, origin, local spec.ServerName, verImpl gomatrixserverlib.IRoomVersion, roomID, at string, extra ...string) ([]string, error) {
	ids, err := s.client.LookupStateIDs(ctx, local, origin, roomID, at)
	if err != nil {
		return nil, err
	}
	wanted := append(append(append([]string{}, ids.AuthEventIDs...), ids.StateEventIDs...), extra...)
	have, err := s.rooms.EventsByID(ctx, roomID, wanted)
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(have))
	for _, p := range have {
		known[p.EventID()] = true
	}
	var missing []string
	for _, id := range wanted {
		if !known[id] {
			known[id] = true
			missing = append(missing, id)
		}
	}
	fetched, err := s.fetchEvents(ctx, origin, local, verImpl, roomID, at, missing)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(fetched, func(a, b gomatrixserverlib.PDU) int { return int(a.Depth() - b.Depth()) })
	in := make([]roomserver.InputEvent, 0, len(fetched))
	for _, ev := range fetched {
		in = append(in, roomserver.InputEvent{Kind: roomserver.InputOutlier, PDU: ev})
	}
	if len(in) > 0 {
		if _, err := s.rooms.InputEvents(ctx, in); err != nil {
			return nil, fmt.Errorf("storing the state at %s: %w", at, err)
		}
	}
	return ids.StateEventIDs, nil
}

// manyMissing is how many missing events make one /state cheaper than
// fetching them one by one.
const manyMissing = 50

// fetchEvents fetches events of a room from origin and keeps those whose
// signatures hold.
func (s *Server) fetchEvents(ctx context.Context, origin, local spec.ServerName, verImpl gomatrixserverlib.IRoomVersion, roomID, at string, ids []string) ([]gomatrixserverlib.PDU, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var raws []json.RawMessage
	if len(ids) > manyMissing {
		st, err := s.client.LookupState(ctx, local, origin, roomID, at, verImpl.Version())
		if err != nil {
			return nil, err
		}
		for _, list := range []gomatrixserverlib.EventJSONs{st.AuthEvents, st.StateEvents} {
			for _, raw := range list {
				raws = append(raws, json.RawMessage(raw))
			}
		}
	} else {
		for _, id := range ids {
			txn, err := s.client.GetEvent(ctx, local, origin, id)
			if err != nil {
				return nil, fmt.Errorf("event %s: %w", id, err)
			}
			raws = append(raws, txn.PDUs...)
		}
	}
	return s.checkedEvents(ctx, verImpl, roomID, raws), nil
}
