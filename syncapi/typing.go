package syncapi

import (
	"sort"
	"sync"
	"time"
)

// typingState is the typing stream as this sync server has applied it.
// Typing is ephemeral, but every change goes through the TYPING stream on
// the bus: its sequence numbers are the typing positions in sync tokens,
// so every replica agrees on them, and replaying the stream's last minutes
// rebuilds the state after a restart.
type typingState struct {
	mu      sync.Mutex
	pos     int64
	rooms   map[string]map[string]*typingEntry // room -> user
	roomPos map[string]int64
}

type typingEntry struct {
	expires time.Time
	// seq is the update that set this entry; an expiry names it so that
	// a refresh in between is not cut short.
	seq int64
	// expiring is when this server last asked the stream to expire it.
	expiring time.Time
}

// typingUpdate is one message on the TYPING stream.
type typingUpdate struct {
	RoomID    string `json:"room_id"`
	UserID    string `json:"user_id"`
	Typing    bool   `json:"typing"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
	// IfSeq, on a stop, applies it only while the entry is still the one
	// set by update IfSeq (an expiry); 0 stops unconditionally.
	IfSeq int64 `json:"if_seq,omitempty"`
}

func newTypingState() *typingState {
	return &typingState{rooms: map[string]map[string]*typingEntry{}, roomPos: map[string]int64{}}
}

// apply takes update seq, published at ts, and tells whether the room's
// typing users changed.
func (t *typingState) apply(seq int64, ts time.Time, u typingUpdate) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pos = max(t.pos, seq)
	users := t.rooms[u.RoomID]
	old, was := users[u.UserID]
	if u.Typing {
		if users == nil {
			users = map[string]*typingEntry{}
			t.rooms[u.RoomID] = users
		}
		users[u.UserID] = &typingEntry{expires: ts.Add(time.Duration(u.TimeoutMS) * time.Millisecond), seq: seq}
		if was {
			return false
		}
	} else {
		if !was || (u.IfSeq != 0 && old.seq != u.IfSeq) {
			return false
		}
		delete(users, u.UserID)
		if len(users) == 0 {
			delete(t.rooms, u.RoomID)
		}
	}
	t.roomPos[u.RoomID] = seq
	return true
}

// expired lists the stops to publish for entries past their timeout. An
// entry is listed again only if its stop has not come back for a while.
func (t *typingState) expired(now time.Time) []typingUpdate {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []typingUpdate
	for roomID, users := range t.rooms {
		for u, e := range users {
			if now.After(e.expires) && now.Sub(e.expiring) > 5*time.Second {
				e.expiring = now
				out = append(out, typingUpdate{RoomID: roomID, UserID: u, IfSeq: e.seq})
			}
		}
	}
	return out
}

// startAt sets the position before the stream is replayed: updates older
// than the replay window are past.
func (t *typingState) startAt(seq int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pos = max(t.pos, seq)
}

// position is the newest update applied.
func (t *typingState) position() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pos
}

// since returns the typing users of a room if they changed after pos; a
// pos of 0 is taken for an initial sync (changedSince).
func (t *typingState) since(roomID string, pos int64) ([]string, bool) {
	return t.changedSince(roomID, pos, pos == 0)
}

// changedSince returns the typing users of a room if they changed after
// pos: the current list, empty when everyone stopped, so that a client
// that saw a start clears it. An initial sync (no position) gets the list
// only when someone is typing. A token's typing position may be 0 without
// the sync being initial: no typing had happened when it was made.
func (t *typingState) changedSince(roomID string, pos int64, initial bool) ([]string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !initial && t.roomPos[roomID] <= pos {
		return nil, false
	}
	users := make([]string, 0, len(t.rooms[roomID]))
	for u := range t.rooms[roomID] {
		users = append(users, u)
	}
	sort.Strings(users)
	return users, !initial || len(users) > 0
}
