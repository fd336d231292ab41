package federationapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// fakeFetches is a device list fetch that waits until released and
// counts how often it ran and how often a change was announced.
type fakeFetches struct {
	release            chan error
	started            chan struct{}
	fetches, announced atomic.Int32
}

func newFakeFetches() *fakeFetches {
	return &fakeFetches{release: make(chan error), started: make(chan struct{}, 10)}
}

func (f *fakeFetches) fetch(ctx context.Context, user spec.UserID) error {
	f.fetches.Add(1)
	f.started <- struct{}{}
	if user.Domain() == "slow.test" {
		// A server that never answers: the fetch ends with the resyncer.
		<-ctx.Done()
		return ctx.Err()
	}
	select {
	case err := <-f.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeFetches) announce(context.Context, spec.UserID) error {
	f.announced.Add(1)
	return nil
}

func waitStarted(t *testing.T, f *fakeFetches) {
	t.Helper()
	select {
	case <-f.started:
	case <-time.After(5 * time.Second):
		t.Fatal("no fetch started")
	}
}

// A query's fetch joins a background fetch of the same list under way
// instead of asking the user's server a second time (a server that
// answers one /user/devices, like SyTest's, left the query without keys).
func TestResyncFetchNowJoinsFetchUnderWay(t *testing.T) {
	f := newFakeFetches()
	r := newResyncer(f.fetch, f.announce)
	defer r.stop()
	bob := spec.NewUserIDOrPanic("@bob:remote.test", true)
	if !r.schedule(bob, true) {
		t.Fatal("schedule refused")
	}
	waitStarted(t, f)
	var wg sync.WaitGroup
	var got error = errors.New("not returned")
	wg.Add(1)
	go func() {
		defer wg.Done()
		got = r.fetchNow(context.Background(), bob)
	}()
	time.Sleep(50 * time.Millisecond)
	f.release <- nil
	wg.Wait()
	if got != nil || f.fetches.Load() != 1 || f.announced.Load() != 0 {
		t.Fatalf("fetchNow: %v after %d fetches, %d announcements", got, f.fetches.Load(), f.announced.Load())
	}
}

// A query's fetch takes over a background fetch still waiting for a
// worker: it runs once, now, and the background one does not run after.
func TestResyncFetchNowTakesOverWaitingFetch(t *testing.T) {
	f := newFakeFetches()
	r := newResyncer(f.fetch, f.announce)
	defer r.stop()
	// Every worker busy with other users.
	for i := range resyncWorkers {
		r.schedule(spec.NewUserIDOrPanic(fmt.Sprintf("@u%d:slow.test", i), true), false)
		waitStarted(t, f)
	}
	bob := spec.NewUserIDOrPanic("@bob:remote.test", true)
	r.schedule(bob, true)
	done := make(chan error, 1)
	go func() { done <- r.fetchNow(context.Background(), bob) }()
	waitStarted(t, f)
	f.release <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.stop()
	if n := f.fetches.Load(); n != resyncWorkers+1 {
		t.Fatalf("%d fetches, want %d", n, resyncWorkers+1)
	}
}

// A fetch for a change that fails announces the change (clients then ask
// the user's server); a fetch nobody's change waits on does not; an
// update during a fetch makes another fetch follow.
func TestResyncAnnouncesWhatItCouldNotFetch(t *testing.T) {
	bob := spec.NewUserIDOrPanic("@bob:remote.test", true)
	for _, tc := range []struct {
		name      string
		changed   bool
		err       error
		announced int32
	}{
		{"failed fetch for a change", true, errors.New("down"), 1},
		{"failed fetch for a query", false, errors.New("down"), 0},
		{"nobody shares a room any more", true, errNotShared, 0},
		{"fetched", true, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeFetches()
			r := newResyncer(f.fetch, f.announce)
			r.schedule(bob, tc.changed)
			waitStarted(t, f)
			f.release <- tc.err
			r.stop()
			if f.announced.Load() != tc.announced {
				t.Fatalf("%d announcements, want %d", f.announced.Load(), tc.announced)
			}
		})
	}

	t.Run("update during a fetch", func(t *testing.T) {
		f := newFakeFetches()
		r := newResyncer(f.fetch, f.announce)
		defer r.stop()
		r.schedule(bob, false)
		waitStarted(t, f)
		if !r.schedule(bob, true) {
			t.Fatal("schedule during a fetch refused")
		}
		f.release <- nil
		waitStarted(t, f)
		f.release <- nil
		if f.fetches.Load() != 2 {
			t.Fatalf("%d fetches, want 2", f.fetches.Load())
		}
	})

	t.Run("server left alone after a failure", func(t *testing.T) {
		f := newFakeFetches()
		r := newResyncer(f.fetch, f.announce)
		defer r.stop()
		r.schedule(bob, true)
		waitStarted(t, f)
		f.release <- errors.New("down")
		for deadline := time.Now().Add(5 * time.Second); f.announced.Load() == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no announcement")
			}
		}
		// The caller announces itself when no fetch will come.
		if r.schedule(bob, true) {
			t.Fatal("a fetch was scheduled for a server that failed a moment ago")
		}
	})
}
