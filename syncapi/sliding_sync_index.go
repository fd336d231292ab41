package syncapi

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/syncapi/sliding"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/tidwall/gjson"
)

// The room index: per user, the rooms a sliding list may show, ordered by
// bump stamp, kept in memory between requests (decision 0015). It is a
// cache of the database at a stream position: the first request reads
// every room of the user, later ones read again only the rooms with an
// event or a membership change of the user since the position the index
// is at, so an incremental answer costs what changed, not the number of
// rooms. Every sync server keeps its own; none is ever trusted beyond the
// position it was read at, so a connection served by several replicas in
// turn sees the same lists from each. Forgetting a room is the one change
// without a stream position: the left rooms a request could show are
// checked against the database on every request.

const (
	// maxIndexedRooms bounds the rooms held by all users' indexes; the
	// least recently used users' indexes go first.
	maxIndexedRooms = 100_000
	// A gap of more events than this (plus a few per room) since the
	// index's position is read whole: the events since cost more to look
	// through than the user's rooms.
	indexGapBase    = 1000
	indexGapPerRoom = 8
)

// indexedRoom is one room of a user's index. It is never changed once in
// an index: a change makes a new one.
type indexedRoom struct {
	row  *storage.SlidingRoomRow
	bump int64
	// The room's type, encryption and name, for filters; set when the
	// index has meta.
	typ       *string
	encrypted bool
	name      string
}

func newIndexedRoom(row *storage.SlidingRoomRow) *indexedRoom {
	bump := row.StreamPos
	if row.Membership == spec.Join && row.Bump > 0 {
		bump = row.Bump
	}
	return &indexedRoom{row: row, bump: max(bump, 0)}
}

func compareIndexed(a, b *indexedRoom) int {
	return sliding.Compare(sliding.Ranked{RoomID: a.row.RoomID, Bump: a.bump}, sliding.Ranked{RoomID: b.row.RoomID, Bump: b.bump})
}

// roomSnapshot is a user's rooms at one stream position; immutable, so
// requests of the user share it without locks.
type roomSnapshot struct {
	pos    int64
	byID   layered[string]
	byNID  layered[int64]
	sorted []*indexedRoom // every room, highest bump stamp first
	// left are the rooms with a leave or ban: the ones that may have been
	// forgotten since.
	left []*indexedRoom
	meta bool
}

func newSnapshot(pos int64, rooms []*indexedRoom, meta bool) *roomSnapshot {
	sn := &roomSnapshot{pos: pos, byID: layered[string]{base: make(map[string]*indexedRoom, len(rooms))},
		byNID: layered[int64]{base: make(map[int64]*indexedRoom, len(rooms))}, sorted: rooms, meta: meta}
	for _, r := range rooms {
		sn.byID.base[r.row.RoomID] = r
		sn.byNID.base[r.row.RoomNID] = r
		if r.row.Membership == spec.Leave || r.row.Membership == spec.Ban {
			sn.left = append(sn.left, r)
		}
	}
	slices.SortFunc(sn.sorted, compareIndexed)
	return sn
}

// layered is a map that snapshots share: a base that is never changed
// once built, and the changes since on top, copied for each snapshot.
// When the changes grow past an eighth of the base, they are merged
// into a new base: a snapshot taken after a few changes costs those,
// not the number of rooms.
type layered[K comparable] struct {
	base map[K]*indexedRoom
	over map[K]*indexedRoom // a nil value removes the key
}

func (m layered[K]) get(k K) *indexedRoom {
	if r, ok := m.over[k]; ok {
		return r
	}
	return m.base[k]
}

// with is m with the changes (nil removes).
func (m layered[K]) with(changes map[K]*indexedRoom) layered[K] {
	if len(changes) == 0 {
		return m
	}
	over := make(map[K]*indexedRoom, len(m.over)+len(changes))
	maps.Copy(over, m.over)
	maps.Copy(over, changes)
	if len(over) <= 64+len(m.base)/8 {
		return layered[K]{base: m.base, over: over}
	}
	base := maps.Clone(m.base)
	for k, r := range over {
		if r == nil {
			delete(base, k)
		} else {
			base[k] = r
		}
	}
	return layered[K]{base: base}
}

// roomIndex holds the users' snapshots.
type roomIndex struct {
	mu    sync.Mutex
	users map[string]*userIndex
	tick  int64
	rooms int
}

type userIndex struct {
	// mu makes one request of the user at a time bring the index forward.
	mu   sync.Mutex
	snap *roomSnapshot
	used int64 // roomIndex.tick at the last use
	size int   // rooms counted in roomIndex.rooms
}

func newRoomIndex() *roomIndex {
	return &roomIndex{users: map[string]*userIndex{}}
}

func (x *roomIndex) entry(user string) *userIndex {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.tick++
	u := x.users[user]
	if u == nil {
		u = &userIndex{}
		x.users[user] = u
	}
	u.used = x.tick
	return u
}

// store records the user's new snapshot and evicts the least recently
// used indexes beyond the bound.
func (x *roomIndex) store(user string, u *userIndex, sn *roomSnapshot) {
	u.snap = sn
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.users[user] != u {
		return // evicted meanwhile
	}
	x.rooms += len(sn.sorted) - u.size
	u.size = len(sn.sorted)
	for x.rooms > maxIndexedRooms && len(x.users) > 1 {
		var oldest string
		var at int64
		for id, e := range x.users {
			if id != user && (oldest == "" || e.used < at) {
				oldest, at = id, e.used
			}
		}
		x.rooms -= x.users[oldest].size
		delete(x.users, oldest)
	}
}

// userRooms returns the user's rooms at stream position to or later:
// when another request brought the index further, its position is as
// good as to (it was the newest committed position when read), and the
// request answers up to it.
func (s *Server) userRooms(ctx context.Context, user string, to int64, meta bool) (*roomSnapshot, error) {
	u := s.roomIndex.entry(user)
	u.mu.Lock()
	defer u.mu.Unlock()
	old := u.snap
	if old != nil && old.pos > to {
		to = old.pos
	}
	var sn *roomSnapshot
	var err error
	switch {
	case old != nil && old.pos == to && (old.meta || !meta):
		return old, nil
	case old == nil || to-old.pos > indexGapBase+indexGapPerRoom*int64(len(old.sorted)):
		sn, err = s.readAllRooms(ctx, user, to, meta || (old != nil && old.meta))
	default:
		sn, err = s.advanceRooms(ctx, user, old, to, meta)
	}
	if err != nil {
		return nil, err
	}
	s.roomIndex.store(user, u, sn)
	return sn, nil
}

// DropRoomIndexes forgets every user's room index, as a sync server that
// just started has none: the next request of each user reads all of its
// rooms. Benchmarks use it to measure that first request.
func (s *Server) DropRoomIndexes() {
	x := s.roomIndex
	x.mu.Lock()
	defer x.mu.Unlock()
	x.users, x.rooms = map[string]*userIndex{}, 0
}

// readAllRooms reads every room of the user.
func (s *Server) readAllRooms(ctx context.Context, user string, to int64, meta bool) (*roomSnapshot, error) {
	rows, err := s.store.SlidingRooms(ctx, user, bumpTypes, to, nil)
	if err != nil {
		return nil, err
	}
	rooms := make([]*indexedRoom, 0, len(rows))
	for i := range rows {
		if rows[i].StreamPos <= to {
			rooms = append(rooms, newIndexedRoom(&rows[i]))
		}
	}
	if meta {
		if err := s.readRoomMeta(ctx, rooms); err != nil {
			return nil, err
		}
	}
	return newSnapshot(to, rooms, meta), nil
}

// advanceRooms brings a snapshot forward to position to, reading again
// only the rooms that changed since its position (and, when meta is asked
// for the first time, the meta of every room).
func (s *Server) advanceRooms(ctx context.Context, user string, old *roomSnapshot, to int64, meta bool) (*roomSnapshot, error) {
	var changed []int64
	if to > old.pos {
		touched, mine, err := s.store.SlidingRoomsChanged(ctx, user, old.pos, to)
		if err != nil {
			return nil, err
		}
		for _, nid := range touched {
			if mine[nid] || old.byNID.get(nid) != nil {
				changed = append(changed, nid)
			}
		}
	}
	meta = meta || old.meta
	if len(changed) == 0 && meta == old.meta {
		sn := *old
		sn.pos = to
		return &sn, nil
	}
	var fresh []*indexedRoom
	if len(changed) > 0 {
		rows, err := s.store.SlidingRooms(ctx, user, bumpTypes, to, changed)
		if err != nil {
			return nil, err
		}
		for i := range rows {
			if rows[i].StreamPos <= to {
				fresh = append(fresh, newIndexedRoom(&rows[i]))
			}
		}
	}
	drop := make(map[int64]bool, len(changed))
	for _, nid := range changed {
		drop[nid] = true
	}
	kept := make([]*indexedRoom, 0, len(old.sorted)+len(fresh))
	for _, r := range old.sorted {
		if !drop[r.row.RoomNID] {
			kept = append(kept, r)
		}
	}
	if meta && !old.meta {
		// The rooms of the old snapshot are shared with requests that
		// read it: copies get the meta.
		for i, r := range kept {
			c := *r
			kept[i] = &c
		}
		if err := s.readRoomMeta(ctx, kept); err != nil {
			return nil, err
		}
	}
	if meta {
		if err := s.readRoomMeta(ctx, fresh); err != nil {
			return nil, err
		}
	}
	if meta && !old.meta {
		return newSnapshot(to, append(kept, fresh...), meta), nil
	}
	// The rooms kept are in order: only the fresh ones are placed.
	slices.SortFunc(fresh, compareIndexed)
	merged := make([]*indexedRoom, 0, len(kept)+len(fresh))
	i := 0
	for _, f := range fresh {
		for i < len(kept) && compareIndexed(kept[i], f) < 0 {
			merged = append(merged, kept[i])
			i++
		}
		merged = append(merged, f)
	}
	merged = append(merged, kept[i:]...)
	ids, nids := map[string]*indexedRoom{}, map[int64]*indexedRoom{}
	for nid := range drop {
		if r := old.byNID.get(nid); r != nil {
			ids[r.row.RoomID], nids[nid] = nil, nil
		}
	}
	for _, f := range fresh {
		ids[f.row.RoomID], nids[f.row.RoomNID] = f, f
	}
	sn := &roomSnapshot{pos: to, sorted: merged, meta: meta, byID: old.byID.with(ids), byNID: old.byNID.with(nids)}
	for _, r := range old.left {
		if !drop[r.row.RoomNID] {
			sn.left = append(sn.left, r)
		}
	}
	for _, f := range fresh {
		if f.row.Membership == spec.Leave || f.row.Membership == spec.Ban {
			sn.left = append(sn.left, f)
		}
	}
	return sn, nil
}

// readRoomMeta reads the type, encryption and name of rooms not yet in an
// index.
func (s *Server) readRoomMeta(ctx context.Context, rooms []*indexedRoom) error {
	if len(rooms) == 0 {
		return nil
	}
	byNID := make(map[int64]*indexedRoom, len(rooms))
	nids := make([]int64, 0, len(rooms))
	for _, r := range rooms {
		byNID[r.row.RoomNID] = r
		nids = append(nids, r.row.RoomNID)
	}
	rows, err := s.store.CurrentStateOf(ctx, nids, storage.StateSelection{Pairs: [][2]string{
		{spec.MRoomCreate, ""}, {"m.room.encryption", ""}, {spec.MRoomName, ""}}})
	if err != nil {
		return err
	}
	for _, st := range rows {
		r := byNID[st.RoomNID]
		switch st.Type {
		case spec.MRoomCreate:
			if t := gjson.GetBytes(st.Client, "content.type"); t.Type == gjson.String {
				v := t.String()
				r.typ = &v
			}
		case "m.room.encryption":
			r.encrypted = true
		case spec.MRoomName:
			r.name = gjson.GetBytes(st.Client, "content.name").String()
		}
	}
	return nil
}
