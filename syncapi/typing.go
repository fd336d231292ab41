package syncapi

import (
	"sort"
	"sync"
	"time"
)

// typingState is the in-memory typing stream. Typing is ephemeral: it is
// not stored, and its positions start from the clock at process start so
// that tokens issued before a restart never look ahead of the new process.
type typingState struct {
	mu      sync.Mutex
	pos     int64
	rooms   map[string]map[string]time.Time // room -> user -> expiry
	roomPos map[string]int64
}

func newTypingState() *typingState {
	return &typingState{pos: time.Now().UnixMilli(), rooms: map[string]map[string]time.Time{}, roomPos: map[string]int64{}}
}

// set records a user starting or stopping typing and returns the new
// position, or 0 when nothing changed.
func (t *typingState) set(roomID, user string, typing bool, timeout time.Duration) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	users := t.rooms[roomID]
	_, was := users[user]
	if typing {
		if users == nil {
			users = map[string]time.Time{}
			t.rooms[roomID] = users
		}
		users[user] = time.Now().Add(timeout)
		if was {
			return 0
		}
	} else {
		if !was {
			return 0
		}
		delete(users, user)
	}
	t.pos++
	t.roomPos[roomID] = t.pos
	return t.pos
}

// expire drops typing notifications past their timeout and returns the
// rooms that changed with the new position.
func (t *typingState) expire(now time.Time) ([]string, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var changed []string
	for roomID, users := range t.rooms {
		hit := false
		for u, exp := range users {
			if now.After(exp) {
				delete(users, u)
				hit = true
			}
		}
		if hit {
			t.pos++
			t.roomPos[roomID] = t.pos
			changed = append(changed, roomID)
		}
	}
	return changed, t.pos
}

// position is the stream's newest position.
func (t *typingState) position() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pos
}

// since returns the typing users of a room if they changed after pos.
func (t *typingState) since(roomID string, pos int64) ([]string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.roomPos[roomID] <= pos && pos != 0 {
		return nil, false
	}
	users := make([]string, 0, len(t.rooms[roomID]))
	for u := range t.rooms[roomID] {
		users = append(users, u)
	}
	sort.Strings(users)
	return users, pos == 0 && len(users) > 0 || pos != 0
}
