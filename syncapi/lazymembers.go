package syncapi

import "sync"

// maxLazyEntries bounds the memory of the lazy-loading cache; when full, an
// arbitrary entry is dropped (its device then gets members again, which is
// redundant but correct).
const maxLazyEntries = 50000

// lazyMembers remembers, per device and room, which member events a client
// that lazy-loads members has already received, so incremental syncs do not
// send them again. It lives in memory: after a restart or on another
// replica a client may get a member event twice, never miss one.
type lazyMembers struct {
	mu   sync.Mutex
	sent map[string]map[string]struct{} // device|room -> users
}

func newLazyMembers() *lazyMembers {
	return &lazyMembers{sent: map[string]map[string]struct{}{}}
}

func lazyKey(user, device, room string) string {
	return user + "|" + device + "|" + room
}

// reset forgets what a device was sent for a room (a full state sync).
func (l *lazyMembers) reset(key string) {
	l.mu.Lock()
	delete(l.sent, key)
	l.mu.Unlock()
}

// has tells whether the member was sent to the device for the room.
func (l *lazyMembers) has(key, member string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.sent[key][member]
	return ok
}

// add records members sent.
func (l *lazyMembers) add(key string, members []string) {
	if len(members) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	set := l.sent[key]
	if set == nil {
		if len(l.sent) >= maxLazyEntries {
			for k := range l.sent {
				delete(l.sent, k)
				break
			}
		}
		set = map[string]struct{}{}
		l.sent[key] = set
	}
	for _, m := range members {
		set[m] = struct{}{}
	}
}
