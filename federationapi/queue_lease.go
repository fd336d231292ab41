package federationapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
)

// Who sends to a destination: the process holding its lease in the
// database. Processes learn of new rows from the process that queued
// them (a wake over core NATS) and, as a backstop for lost wakes and dead
// owners, from a poll of the database.

// wakeMsg is published on queueWakeSubject.
type wakeMsg struct {
	Owner        string            `json:"owner"`
	Destinations []spec.ServerName `json:"destinations"`
	// Reset ends the destinations' backoff (ResetDestination).
	Reset bool `json:"reset,omitempty"`
}

// announce starts sending to destinations with new rows, here and, when
// another process holds a lease, there.
func (q *Queue) announce(dests []spec.ServerName) {
	if len(dests) == 0 {
		return
	}
	q.notify(dests)
	data, _ := json.Marshal(wakeMsg{Owner: q.cfg.OwnerID, Destinations: dests})
	if err := q.deps.Bus.NC.Publish(queueWakeSubject, data); err != nil {
		slog.Warn("federation queue: publish wake", "err", err)
	}
}

func (q *Queue) onWake(m *nats.Msg) {
	var w wakeMsg
	if err := json.Unmarshal(m.Data, &w); err != nil {
		slog.Warn("federation queue: bad wake", "err", err)
		return
	}
	if w.Owner != q.cfg.OwnerID {
		if w.Reset {
			for _, name := range w.Destinations {
				q.resetLocal(name)
			}
		}
		q.notify(w.Destinations)
	}
}

// ResetDestination ends a destination's backoff, in the database and in
// whichever process sends to it, and has what waits for it sent now.
func (q *Queue) ResetDestination(ctx context.Context, name spec.ServerName) error {
	if err := q.deps.Store.ResetBackoff(ctx, name); err != nil {
		return err
	}
	q.resetLocal(name)
	q.notify([]spec.ServerName{name})
	data, _ := json.Marshal(wakeMsg{Owner: q.cfg.OwnerID, Destinations: []spec.ServerName{name}, Reset: true})
	if err := q.deps.Bus.NC.Publish(queueWakeSubject, data); err != nil {
		slog.Warn("federation queue: publish reset", "err", err)
	}
	return nil
}

// resetLocal makes this process's worker of name, if any, forget its
// failures and stop waiting.
func (q *Queue) resetLocal(name spec.ServerName) {
	q.mu.Lock()
	d, ok := q.active[name]
	q.mu.Unlock()
	if ok {
		d.reset.Store(true)
		d.peerBack()
	}
}

// notify tells the workers of destinations that there is new work, and
// starts workers where there are none and no other process holds the
// lease.
func (q *Queue) notify(dests []spec.ServerName) {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	for _, name := range dests {
		if d, ok := q.active[name]; ok {
			d.poke()
			continue
		}
		if until, ok := q.heldElsewhere[name]; ok && now.Before(until) {
			continue
		}
		delete(q.heldElsewhere, name)
		q.startLocked(name)
	}
}

// PeerSeen is told of every signed request from another server: if we
// are backing off from sending to it, the backoff ends now.
func (q *Queue) PeerSeen(name spec.ServerName) {
	q.mu.Lock()
	d, ok := q.active[name]
	q.mu.Unlock()
	if ok {
		d.peerBack()
	}
}

// startLocked starts a worker for name; q.mu is held.
func (q *Queue) startLocked(name spec.ServerName) {
	d := newDestination(q, name)
	q.active[name] = d
	q.wg.Add(1)
	go d.run()
}

// maintain renews this process's leases and polls for destinations that
// nobody sends to.
func (q *Queue) maintain() {
	defer q.wg.Done()
	renew := time.NewTicker(q.cfg.LeaseDuration / 3)
	defer renew.Stop()
	poll := time.NewTicker(q.cfg.PollInterval)
	defer poll.Stop()
	for {
		select {
		case <-q.ctx.Done():
			return
		case <-renew.C:
			q.renew()
		case <-poll.C:
			q.poll()
		}
	}
}

// renew extends the leases and ends the workers whose lease another
// process took (this one was too slow to renew it).
func (q *Queue) renew() {
	started := time.Now()
	ctx, cancel := context.WithTimeout(q.ctx, q.cfg.LeaseDuration/3)
	defer cancel()
	held, err := q.deps.Store.RenewLeases(ctx, q.cfg.OwnerID, started.Add(q.cfg.LeaseDuration))
	if err != nil {
		slog.Warn("federation queue: renew leases", "err", err)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for name, d := range q.active {
		if !held[name] && d.claimedBefore(started) {
			slog.Warn("federation queue: lease lost", "destination", name)
			d.cancel()
		}
	}
}

// poll starts workers for destinations with rows and a free lease: after
// a restart, after a lost wake, after another process died.
func (q *Queue) poll() {
	ctx, cancel := context.WithTimeout(q.ctx, q.cfg.PollInterval)
	defer cancel()
	names, err := q.deps.Store.ClaimableDestinations(ctx, q.cfg.OwnerID, time.Now())
	if err != nil {
		if q.ctx.Err() == nil {
			slog.Warn("federation queue: poll", "err", err)
		}
		return
	}
	q.mu.Lock()
	for _, n := range names {
		delete(q.heldElsewhere, n)
	}
	q.mu.Unlock()
	q.notify(names)
}

// ended removes a worker that stopped; heldUntil, when set, is until when
// another process holds its lease.
func (q *Queue) ended(d *destination, heldUntil time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active[d.name] == d {
		delete(q.active, d.name)
	}
	if !heldUntil.IsZero() {
		q.heldElsewhere[d.name] = heldUntil
	}
}

// idle ends a worker that found nothing to send, unless new work arrived
// while it looked: then it must claim the lease again and go on.
func (q *Queue) idle(d *destination) (again bool) {
	if d.linger() {
		return true
	}
	// From here the lease may be gone without having been lost: the
	// renewal must not take this worker for one that lost it.
	d.setClaimed(time.Time{})
	ctx, cancel := context.WithTimeout(q.ctx, 5*time.Second)
	defer cancel()
	if err := q.deps.Store.ReleaseDestination(ctx, d.name, q.cfg.OwnerID); err != nil && q.ctx.Err() == nil {
		// The lease runs out by itself.
		slog.Warn("federation queue: release lease", "destination", d.name, "err", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if d.poked() && !q.stopped {
		return true
	}
	delete(q.active, d.name)
	return false
}
