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
	// n notify, highlights of them highlight.
	n, highlights int
}

func newUnreadCounter() *unreadCounter {
	return &unreadCounter{entries: map[string]unreadEntry{}}
}

// unreadCount returns how many events by others in (from, to] notify the
// user, and how many of those highlight.
func (s *Server) unreadCount(ctx context.Context, roomNID int64, roomID, user string, from, to int64) (unreadCounts, error) {
	u := s.unread
	key := roomID + "|" + user
	u.mu.Lock()
	e, ok := u.entries[key]
	u.mu.Unlock()
	if !ok || e.from != from || e.upto > to {
		e = unreadEntry{from: from, upto: from}
	}
	if e.upto < to {
		n, h, err := s.events.CountUnread(ctx, roomNID, e.upto, to, user)
		if err != nil {
			return unreadCounts{}, err
		}
		e.n += n
		e.highlights += h
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
	return unreadCounts{Notifications: e.n, Highlights: e.highlights}, nil
}
