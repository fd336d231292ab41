package syncapi

import (
	"sync"
)

// notifier wakes long-polling /sync requests. Each waiting request holds a
// channel registered under its user; an update closes the channels of the
// users it concerns. Room membership for waking is kept here, in memory,
// fed by the roomserver's output.
type notifier struct {
	mu      sync.Mutex
	current Token
	waiters map[string]map[chan struct{}]struct{}
	// members maps a room to its joined (and invited) users; a room absent
	// from the map is loaded on first use.
	members map[string]map[string]struct{}
	// peekers maps a room to the users with a /sync waiting that peeks
	// into it (MSC2753), counted per waiting request. They are registered
	// by the waiting requests themselves, so every sync server knows the
	// peekers it has to wake without sharing peeks in memory.
	peekers map[string]map[string]int
}

func newNotifier(start Token) *notifier {
	return &notifier{current: start, waiters: map[string]map[chan struct{}]struct{}{}, members: map[string]map[string]struct{}{},
		peekers: map[string]map[string]int{}}
}

// position is the newest token.
func (n *notifier) position() Token {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.current
}

// listen registers a waiter for user; call the returned func to stop.
func (n *notifier) listen(user string) (chan struct{}, func()) {
	ch := make(chan struct{})
	n.mu.Lock()
	set := n.waiters[user]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		n.waiters[user] = set
	}
	set[ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		if set := n.waiters[user]; set != nil {
			if _, ok := set[ch]; ok {
				delete(set, ch)
				if len(set) == 0 {
					delete(n.waiters, user)
				}
			}
		}
		n.mu.Unlock()
	}
}

// watchPeeks makes updates to the rooms wake user as if they were a
// member, until the returned func is called.
func (n *notifier) watchPeeks(user string, rooms []string) func() {
	if len(rooms) == 0 {
		return func() {}
	}
	n.mu.Lock()
	for _, r := range rooms {
		set := n.peekers[r]
		if set == nil {
			set = map[string]int{}
			n.peekers[r] = set
		}
		set[user]++
	}
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, r := range rooms {
			set := n.peekers[r]
			if set[user]--; set[user] <= 0 {
				delete(set, user)
			}
			if len(set) == 0 {
				delete(n.peekers, r)
			}
		}
	}
}

// advance moves the position and wakes the given users.
func (n *notifier) advance(to Token, users ...string) {
	n.mu.Lock()
	n.current = n.current.Max(to)
	for _, u := range users {
		n.wakeLocked(u)
	}
	n.mu.Unlock()
}

// advanceRoom moves the position and wakes the room's users.
func (n *notifier) advanceRoom(to Token, roomID string, extra ...string) {
	n.mu.Lock()
	n.current = n.current.Max(to)
	for u := range n.members[roomID] {
		n.wakeLocked(u)
	}
	for u := range n.peekers[roomID] {
		n.wakeLocked(u)
	}
	for _, u := range extra {
		n.wakeLocked(u)
	}
	n.mu.Unlock()
}

func (n *notifier) wakeLocked(user string) {
	for ch := range n.waiters[user] {
		close(ch)
	}
	delete(n.waiters, user)
}

// hasRoom tells whether the room's members are known.
func (n *notifier) hasRoom(roomID string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.members[roomID]
	return ok
}

// setRoom records a room's members.
func (n *notifier) setRoom(roomID string, users []string) {
	set := make(map[string]struct{}, len(users))
	for _, u := range users {
		set[u] = struct{}{}
	}
	n.mu.Lock()
	n.members[roomID] = set
	n.mu.Unlock()
}

// setMembership updates one user's membership of a known room.
func (n *notifier) setMembership(roomID, user, membership string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	set, ok := n.members[roomID]
	if !ok {
		return
	}
	if membership == "join" || membership == "invite" {
		set[user] = struct{}{}
	} else {
		delete(set, user)
	}
}
