package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/roomserver"
)

// A client paging back past the oldest event we hold of a room asks for
// more: we ask the other servers in the room for the events before it
// (/backfill), check them (signatures, auth against their auth events,
// fetching missing auth chains with /event_auth) and store them as the
// room's history. One backfill per room runs at a time; a room whose
// history is exhausted (the create event reached, or no server had more)
// is not asked about again for a while.

// exhaustedFor is how long a room with no further history is not asked
// about again.
const exhaustedFor = time.Minute

type backfills struct {
	mu        sync.Mutex
	running   map[string]*sync.Mutex
	exhausted map[string]time.Time
}

func (b *backfills) lock(roomID string) func() {
	b.mu.Lock()
	if b.running == nil {
		b.running, b.exhausted = map[string]*sync.Mutex{}, map[string]time.Time{}
	}
	m := b.running[roomID]
	if m == nil {
		m = &sync.Mutex{}
		b.running[roomID] = m
	}
	b.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (b *backfills) isExhausted(roomID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Now().Before(b.exhausted[roomID])
}

func (b *backfills) markExhausted(roomID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.exhausted[roomID] = time.Now().Add(exhaustedFor)
}

// BackfillRoom fetches up to limit events before the oldest one we hold
// and returns how many were stored.
func (s *Server) BackfillRoom(ctx context.Context, roomID string, limit int) (int, error) {
	if s.backfills.isExhausted(roomID) {
		return 0, nil
	}
	unlock := s.backfills.lock(roomID)
	defer unlock()
	earliest, err := s.rooms.EarliestEvent(ctx, roomID)
	if err != nil {
		return 0, err
	}
	if earliest.Type == spec.MRoomCreate {
		s.backfills.markExhausted(roomID)
		return 0, nil
	}
	verImpl, err := s.roomVersionOf(ctx, roomID)
	if err != nil {
		return 0, err
	}
	store := func(pdus []gomatrixserverlib.PDU) (*roomserver.BackfillResult, error) {
		return s.rooms.Backfill(ctx, roomID, pdus)
	}
	// The event we start from comes back too: ask for one more.
	if n := s.backfillFromAny(ctx, verImpl, roomID, []string{earliest.EventID}, backfillLimit(limit)+1, store); n > 0 {
		return n, nil
	}
	s.backfills.markExhausted(roomID)
	return 0, nil
}

// FillHole fetches up to limit events of the history missing right below
// eventID (roomserver/holes.go) and returns how many were stored.
func (s *Server) FillHole(ctx context.Context, roomID, eventID string, limit int) (int, error) {
	key := roomID + " " + eventID
	if s.backfills.isExhausted(key) {
		return 0, nil
	}
	unlock := s.backfills.lock(roomID)
	defer unlock()
	hole, err := s.rooms.HoleBelow(ctx, roomID, eventID)
	if errors.Is(err, roomserver.ErrEventNotFound) {
		return 0, nil // filled meanwhile
	}
	if err != nil {
		return 0, err
	}
	verImpl, err := s.roomVersionOf(ctx, roomID)
	if err != nil {
		return 0, err
	}
	store := func(pdus []gomatrixserverlib.PDU) (*roomserver.BackfillResult, error) {
		return s.rooms.FillHole(ctx, roomID, eventID, pdus)
	}
	// The events we lack are the newest of the hole: they come back.
	if n := s.backfillFromAny(ctx, verImpl, roomID, hole.Missing, backfillLimit(limit), store); n > 0 {
		return n, nil
	}
	s.backfills.markExhausted(key)
	return 0, nil
}

// roomVersionOf is the room version implementation of a room we hold.
func (s *Server) roomVersionOf(ctx context.Context, roomID string) (gomatrixserverlib.IRoomVersion, error) {
	version, err := s.rooms.RoomVersion(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
}

// backfillLimit is what one /backfill asks for: what the page needs,
// within what a server is asked at once.
func backfillLimit(limit int) int { return min(max(limit, 1), 100) }

// backfillFromAny asks the other servers in the room, one after the
// other, for up to limit events before (and including) from, until one
// brings events that store keeps; it returns how many.
func (s *Server) backfillFromAny(ctx context.Context, verImpl gomatrixserverlib.IRoomVersion, roomID string, from []string, limit int,
	store func([]gomatrixserverlib.PDU) (*roomserver.BackfillResult, error)) int {
	servers, err := s.rooms.ServersInRoom(ctx, roomID)
	if err != nil {
		slog.Info("federation: backfill failed", "room_id", roomID, "err", err)
		return 0
	}
	local := s.localNameFor(ctx, roomID)
	for _, server := range servers {
		if s.isLocal(server) || !s.policy.Allowed(server) {
			continue
		}
		n, err := s.backfillFrom(ctx, local, server, verImpl, roomID, from, limit, store)
		if err != nil {
			slog.Info("federation: backfill failed", "room_id", roomID, "server", server, "err", err)
		}
		if n > 0 {
			return n
		}
	}
	return 0
}

func (s *Server) backfillFrom(ctx context.Context, local, server spec.ServerName, verImpl gomatrixserverlib.IRoomVersion, roomID string, from []string, limit int,
	store func([]gomatrixserverlib.PDU) (*roomserver.BackfillResult, error)) (int, error) {
	txn, err := s.client.Backfill(ctx, local, server, roomID, limit, from)
	if err != nil {
		return 0, err
	}
	pdus := s.checkedEvents(ctx, verImpl, roomID, txn.PDUs)
	res, err := store(pdus)
	if err != nil {
		return 0, err
	}
	stored := res.Stored
	if len(res.MissingAuth) > 0 {
		if err := s.fetchAuthChains(ctx, local, server, verImpl, roomID, res.MissingAuth); err != nil {
			return stored, err
		}
		retry := slices.DeleteFunc(slices.Clone(pdus), func(p gomatrixserverlib.PDU) bool { return !slices.Contains(res.MissingAuth, p.EventID()) })
		again, err := store(retry)
		if err != nil {
			return stored, err
		}
		stored += again.Stored
	}
	return stored, nil
}

// checkedEvents parses events of the room from another server and keeps
// those whose signatures hold.
func (s *Server) checkedEvents(ctx context.Context, verImpl gomatrixserverlib.IRoomVersion, roomID string, raws []json.RawMessage) []gomatrixserverlib.PDU {
	var out []gomatrixserverlib.PDU
	for _, raw := range raws {
		p, err := verImpl.NewEventFromUntrustedJSON(raw)
		if err != nil || p.RoomID().String() != roomID {
			continue
		}
		if err := s.verifySignatures(ctx, p); err != nil {
			slog.Info("federation: event with bad signatures dropped", "event_id", p.EventID(), "err", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// fetchAuthChains stores the auth chains of events as outliers, oldest
// first, so that the events can be judged.
func (s *Server) fetchAuthChains(ctx context.Context, local, server spec.ServerName, verImpl gomatrixserverlib.IRoomVersion, roomID string, eventIDs []string) error {
	for _, id := range eventIDs {
		res, err := s.client.GetEventAuth(ctx, local, server, verImpl.Version(), roomID, id)
		if err != nil {
			return fmt.Errorf("auth chain of %s: %w", id, err)
		}
		raws := make([]json.RawMessage, 0, len(res.AuthEvents))
		for _, r := range res.AuthEvents {
			raws = append(raws, json.RawMessage(r))
		}
		chain := s.checkedEvents(ctx, verImpl, roomID, raws)
		slices.SortStableFunc(chain, func(a, b gomatrixserverlib.PDU) int { return int(a.Depth() - b.Depth()) })
		in := make([]roomserver.InputEvent, 0, len(chain))
		for _, p := range chain {
			in = append(in, roomserver.InputEvent{Kind: roomserver.InputOutlier, PDU: p})
		}
		if _, err := s.rooms.InputEvents(ctx, in); err != nil {
			return fmt.Errorf("storing the auth chain of %s: %w", id, err)
		}
	}
	return nil
}
