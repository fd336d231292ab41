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
)

// stateEvent is one entry of a room's current state, parsed once.
type stateEvent struct {
	nid    int64
	pdu    gomatrixserverlib.PDU
	client []byte
}

type stateKey = gomatrixserverlib.StateKeyTuple

// room is the in-memory current state of a room. A published *room is never
// modified: the input loop works on a copy and swaps it in after commit, so
// readers need no lock beyond the one guarding the map of rooms.
type room struct {
	nid           int64
	id            string
	version       gomatrixserverlib.IRoomVersion
	snapshot      int64
	snapshotChain int64
	extremities   []string
	depth         int64
	visibility    string
	state         map[stateKey]*stateEvent
	// servers counts the joined members per server name, kept with state:
	// the servers an event goes to are those in the room after it.
	servers map[spec.ServerName]int
	// stateShared is true while state (and servers) are the published
	// room's maps; the first state change in a batch copies them.
	stateShared bool
	// isNew and dirty tell the batch which rows to write.
	isNew, dirty bool
}

// clone returns a working copy that shares the state map until written.
func (r *room) clone() *room {
	c := *r
	c.extremities = append([]string(nil), r.extremities...)
	c.stateShared = true
	return &c
}

func (r *room) setState(k stateKey, ev *stateEvent) {
	if r.stateShared {
		r.state = maps.Clone(r.state)
		r.servers = maps.Clone(r.servers)
		r.stateShared = false
	}
	if k.EventType == spec.MRoomMember {
		r.countMember(r.state[k], -1)
		r.countMember(ev, 1)
	}
	r.state[k] = ev
}

// countMember adds delta to the count of ev's server if ev is a join.
func (r *room) countMember(ev *stateEvent, delta int) {
	if ev == nil || ev.pdu.StateKey() == nil {
		return
	}
	if m, err := ev.pdu.Membership(); err != nil || m != spec.Join {
		return
	}
	name := serverOf(*ev.pdu.StateKey())
	if name == "" {
		return
	}
	if r.servers == nil {
		r.servers = map[spec.ServerName]int{}
	}
	r.servers[name] += delta
	if r.servers[name] <= 0 {
		delete(r.servers, name)
	}
}

// serverNames are the servers with joined members, sorted.
func (r *room) serverNames() []string {
	out := make([]string, 0, len(r.servers))
	for name := range r.servers {
		out = append(out, string(name))
	}
	slices.Sort(out)
	return out
}

func (r *room) get(evType, key string) *stateEvent {
	return r.state[stateKey{EventType: evType, StateKey: key}]
}

func (r *room) pdu(evType, key string) (gomatrixserverlib.PDU, error) {
	if ev := r.get(evType, key); ev != nil {
		return ev.pdu, nil
	}
	return nil, nil
}

// room implements gomatrixserverlib.AuthEventProvider over current state.
func (r *room) Create() (gomatrixserverlib.PDU, error) { return r.pdu(spec.MRoomCreate, "") }
func (r *room) JoinRules() (gomatrixserverlib.PDU, error) {
	return r.pdu(spec.MRoomJoinRules, "")
}
func (r *room) PowerLevels() (gomatrixserverlib.PDU, error) {
	return r.pdu(spec.MRoomPowerLevels, "")
}
func (r *room) Member(sk spec.SenderID) (gomatrixserverlib.PDU, error) {
	return r.pdu(spec.MRoomMember, string(sk))
}
func (r *room) ThirdPartyInvite(sk string) (gomatrixserverlib.PDU, error) {
	return r.pdu(spec.MRoomThirdPartyInvite, sk)
}
func (r *room) Valid() bool { return true }

// membership returns the user's current membership, or "leave".
func (r *room) membership(user string) string {
	ev := r.get(spec.MRoomMember, user)
	if ev == nil {
		return spec.Leave
	}
	m, err := ev.pdu.Membership()
	if err != nil {
		return spec.Leave
	}
	return m
}

func (r *room) row() storage.Room {
	return storage.Room{NID: r.nid, ID: r.id, Version: string(r.version.Version()), SnapshotNID: r.snapshot,
		SnapshotChain: r.snapshotChain, Extremities: r.extremities, Depth: r.depth, Visibility: r.visibility}
}

// userIDForSender maps a sender to a user id; rohrpost does not support
// pseudonymous sender ids, so they are the same.
func userIDForSender(_ spec.RoomID, sender spec.SenderID) (*spec.UserID, error) {
	return spec.NewUserID(string(sender), true)
}

// loadRoom reads a room and its current state from the database.
func (s *Server) loadRoom(ctx context.Context, roomID string) (*room, error) {
	row, err := s.store.RoomByID(ctx, roomID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrRoomNotFound
	}
	if err != nil {
		return nil, err
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(row.Version))
	if err != nil {
		return nil, fmt.Errorf("room %s: %w", roomID, err)
	}
	events, err := s.store.CurrentState(ctx, row.NID)
	if err != nil {
		return nil, err
	}
	r := &room{nid: row.NID, id: row.ID, version: verImpl, snapshot: row.SnapshotNID, snapshotChain: row.SnapshotChain,
		extremities: row.Extremities, depth: row.Depth, visibility: row.Visibility, state: make(map[stateKey]*stateEvent, len(events))}
	for _, e := range events {
		pdu, err := verImpl.NewEventFromTrustedJSONWithEventID(e.ID, e.PDU, e.Redacted)
		if err != nil {
			return nil, fmt.Errorf("room %s state event %s: %w", roomID, e.ID, err)
		}
		se := &stateEvent{nid: e.NID, pdu: pdu, client: e.Client}
		r.state[stateKey{EventType: e.Type, StateKey: *e.StateKey}] = se
		if e.Type == spec.MRoomMember {
			r.countMember(se, 1)
		}
	}
	return r, nil
}

// room returns the published state of a room, loading it on first use.
func (s *Server) room(ctx context.Context, roomID string) (*room, error) {
	s.roomsMu.RLock()
	r := s.rooms[roomID]
	s.roomsMu.RUnlock()
	if r != nil {
		return r, nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.roomsMu.RLock()
	r = s.rooms[roomID]
	s.roomsMu.RUnlock()
	if r != nil {
		return r, nil
	}
	r, err := s.loadRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	s.roomsMu.Lock()
	if cur := s.rooms[roomID]; cur != nil {
		r = cur
	} else {
		s.rooms[roomID] = r
	}
	s.roomsMu.Unlock()
	return r, nil
}
