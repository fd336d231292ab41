package userapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/rohrpost/rohrpost/internal/bus"
)

// ErasedSet is the set of erased accounts as the components that serve
// events see it (sync for clients, federation for other servers): loaded
// at start, kept up to date from the UserErased broadcasts and read again
// after a lost connection, when broadcasts may have been missed. It is
// almost always empty, and then costs nothing.
type ErasedSet struct {
	mu    sync.RWMutex
	users map[string]bool
}

// Add marks users erased.
func (e *ErasedSet) Add(users ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.users == nil {
		e.users = map[string]bool{}
	}
	for _, u := range users {
		e.users[u] = true
	}
}

// Contains says whether user is in the set.
func (e *ErasedSet) Contains(user string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.users[user]
}

// Snapshot is a copy for one request, nil when nobody is erased.
func (e *ErasedSet) Snapshot() map[string]bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if len(e.users) == 0 {
		return nil
	}
	out := make(map[string]bool, len(e.users))
	for u := range e.users {
		out[u] = true
	}
	return out
}

// Follow loads the set through load and keeps it current from the bus;
// who is the component's name for the logs.
func (e *ErasedSet) Follow(ctx context.Context, conn *bus.Conn, who string, load func(context.Context) ([]string, error)) (*nats.Subscription, error) {
	reload := func(ctx context.Context) error {
		users, err := load(ctx)
		if err != nil {
			return err
		}
		e.Add(users...)
		return nil
	}
	if err := reload(ctx); err != nil {
		return nil, fmt.Errorf("%s erased users: %w", who, err)
	}
	conn.OnReconnect(func() {
		if err := reload(context.Background()); err != nil {
			slog.Error(who+": reload erased users", "err", err)
		}
	})
	return conn.NC.Subscribe(bus.UserErasedSubject, func(m *nats.Msg) {
		var ev UserErased
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			slog.Warn(who+": bad erasure", "err", err)
			return
		}
		e.Add(ev.UserID)
	})
}
