package syncapi

import (
	"context"
	"sync"
)

// maxUnreadEntries bounds the memory of the unread-count cache.
const maxUnreadEntries = 100000

// unreadCounter remembers, per room and user, how many unread messages
// there were up to some position, so that each sync counts only the events
// after it instead of the whole history since the user's read receipt.
type unreadCounter struct {
	mu      sync.Mutex
	entries map[string]unreadEntry
}

type unreadEntry struct {
	from, upto int64
	n          int
}

func newUnreadCounter() *unreadCounter {
	return &unreadCounter{entries: map[string]unreadEntry{}}
}

// unreadCount returns the number of messages by others in (from, to].
func (s *Server) unreadCount(ctx context.Context, roomNID int64, roomID, user string, from, to int64) (int, error) {
	u := s.unread
	key := roomID + "|" + user
	u.mu.Lock()
	e, ok := u.entries[key]
	u.mu.Unlock()
	if !ok || e.from != from || e.upto > to {
		e = unreadEntry{from: from, upto: from}
	}
	if e.upto < to {
		n, err := s.events.CountUnread(ctx, roomNID, e.upto, to, user)
		if err != nil {
			return 0, err
		}
		e.n += n
		e.upto = to
	}
	u.mu.Lock()
	if len(u.entries) >= maxUnreadEntries {
		for k := range u.entries {
			delete(u.entries, k)
			break
		}
	}
	u.entries[key] = e
	u.mu.Unlock()
	return e.n, nil
}
