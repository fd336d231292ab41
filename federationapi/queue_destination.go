package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/federationapi/storage"
)

// destination is the worker of one destination: it holds the lease, sends
// one transaction at a time in queue order and backs off when the
// destination fails. Destinations never wait for each other.
type destination struct {
	q    *Queue
	name spec.ServerName
	ctx  context.Context
	// cancel ends the worker when its lease was lost.
	cancel context.CancelFunc
	// wake holds one signal: new rows arrived since the worker last looked.
	wake chan struct{}
	// back holds one signal: the destination was heard from (it sent us
	// a signed request), so a backoff may end now.
	back chan struct{}

	mu        sync.Mutex
	claimedAt time.Time

	failures int
	retryAt  time.Time
	// lingered: the worker kept its lease while idle and was woken, so
	// it need not claim the lease again (linger).
	lingered bool
	// reset is set by an admin's reset_connection: the worker forgets
	// its failures when it next looks (waitBackoff, failed).
	reset atomic.Bool
}

func newDestination(q *Queue, name spec.ServerName) *destination {
	ctx, cancel := context.WithCancel(q.ctx)
	return &destination{q: q, name: name, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), back: make(chan struct{}, 1)}
}

func (d *destination) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// poked takes the signal, if there is one.
func (d *destination) poked() bool {
	select {
	case <-d.wake:
		return true
	default:
		return false
	}
}

func (d *destination) setClaimed(at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.claimedAt = at
}

// claimedBefore says whether the worker held its lease already at t, so
// that a renewal that did not see it means the lease is gone.
func (d *destination) claimedBefore(t time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.claimedAt.IsZero() && d.claimedAt.Before(t)
}

func (d *destination) run() {
	defer d.q.wg.Done()
	defer d.cancel()
	defer d.q.ended(d, time.Time{})
	for d.claim() && d.sendAll() {
	}
}

// claim takes the lease and the backoff left by whoever sent before.
func (d *destination) claim() bool {
	if d.lingered {
		// Still ours (renewed meanwhile; a lost one ends the worker, and
		// NextTransaction checks it anyway), with our own backoff.
		d.lingered = false
		return true
	}
	now := time.Now()
	st, err := d.q.deps.Store.ClaimDestination(d.ctx, d.name, d.q.cfg.OwnerID, now, now.Add(d.q.cfg.LeaseDuration))
	switch {
	case errors.Is(err, storage.ErrLeaseLost):
		d.q.ended(d, st.LeaseUntil)
		return false
	case err != nil:
		if d.ctx.Err() == nil {
			slog.Warn("federation queue: claim", "destination", d.name, "err", err)
		}
		d.q.ended(d, time.Time{})
		return false
	}
	d.setClaimed(now)
	d.failures, d.retryAt = st.Failures, st.RetryAt
	return true
}

// linger waits, holding the lease, up to IdleLinger for more work for
// the destination; it tells whether some came.
func (d *destination) linger() bool {
	if d.q.cfg.IdleLinger <= 0 {
		return false
	}
	t := time.NewTimer(d.q.cfg.IdleLinger)
	defer t.Stop()
	select {
	case <-d.wake:
		d.lingered = true
		return true
	case <-t.C:
	case <-d.ctx.Done():
	}
	return false
}

// sendAll sends until nothing waits. It returns whether the worker should
// claim the lease again (work arrived as it was letting go).
func (d *destination) sendAll() bool {
	var txn *storage.Transaction
	for {
		if !d.waitBackoff() {
			return false
		}
		if !d.q.deps.Allowed(d.name) {
			// Queued before the policy refused it (a changed allow-list).
			d.drop()
			return d.q.idle(d)
		}
		if txn == nil {
			// Take the signal before looking, so that rows committed after
			// the look leave a signal behind.
			d.poked()
			var err error
			txn, err = d.q.deps.Store.NextTransaction(d.ctx, d.name, d.q.cfg.OwnerID, time.Now(), newTxnID(), maxTxnPDUs, maxTxnEDUs)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				return d.q.idle(d)
			case errors.Is(err, storage.ErrLeaseLost):
				d.q.ended(d, time.Time{})
				return false
			case err != nil:
				if d.ctx.Err() != nil {
					return false
				}
				slog.Warn("federation queue: read queue", "destination", d.name, "err", err)
				if !sleep(d.ctx, d.q.cfg.MinBackoff) {
					return false
				}
				continue
			}
		}
		// Only word from the peer after this attempt began ends the
		// backoff that follows if it fails; earlier word is stale. (Taken
		// in waitBackoff instead, a word that came while the attempt
		// failed was lost, and the worker slept through the backoff.)
		select {
		case <-d.back:
		default:
		}
		if err := d.send(txn); err != nil {
			if d.ctx.Err() != nil {
				return false // stopped, not failed
			}
			d.failed(txn, err)
			continue
		}
		err := d.record(func(ctx context.Context) error { return d.q.deps.Store.TransactionSent(ctx, d.name, txn) })
		if err != nil {
			// The rows keep their transaction id: the next round sends
			// the same transaction again, which the destination ignores.
			slog.Warn("federation queue: forget sent transaction", "destination", d.name, "txn_id", txn.ID, "err", err)
		}
		if d.ctx.Err() != nil {
			return false
		}
		txn, d.failures, d.retryAt = nil, 0, time.Time{}
	}
}

// record writes down the outcome of a request: a Stop that comes just
// after the answer must not make us forget it.
func (d *destination) record(write func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 10*time.Second)
	defer cancel()
	return write(ctx)
}

// peerBack tells a worker in backoff that its destination is up again.
func (d *destination) peerBack() {
	select {
	case d.back <- struct{}{}:
	default:
	}
}

// waitBackoff waits until the destination may be tried again: the backoff
// has passed, or the destination was heard from meanwhile (a server back
// after an outage should not wait out an hour's backoff). A wait left by
// an earlier owner never exceeds this process's MaxBackoff.
func (d *destination) waitBackoff() bool {
	wait := min(time.Until(d.retryAt), d.q.cfg.MaxBackoff)
	if wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.back:
		if d.reset.Swap(false) {
			d.failures, d.retryAt = 0, time.Time{}
		}
		return true
	case <-d.ctx.Done():
		return false
	}
}

// drop forgets what waits for a destination we may no longer talk to.
func (d *destination) drop() {
	n, err := d.q.deps.Store.DropQueue(d.ctx, d.name)
	if err != nil {
		if d.ctx.Err() == nil {
			slog.Warn("federation queue: drop refused destination's queue", "destination", d.name, "err", err)
		}
		return
	}
	slog.Info("federation queue: destination refused by policy, queue dropped", "destination", d.name, "dropped", n)
}

// send sends one transaction. Only the transaction as a whole can fail;
// PDUs the destination refused are its verdict and are not sent again.
func (d *destination) send(txn *storage.Transaction) error {
	edus := make([]gomatrixserverlib.EDU, 0, len(txn.EDUs))
	for _, raw := range txn.EDUs {
		var e gomatrixserverlib.EDU
		if err := json.Unmarshal(raw, &e); err != nil {
			slog.Error("federation queue: bad queued EDU", "destination", d.name, "err", err)
			continue
		}
		e.Origin = string(txn.Origin)
		edus = append(edus, e)
	}
	ctx, cancel := context.WithTimeout(d.ctx, sendTimeout)
	defer cancel()
	resp, err := d.q.deps.Sender.SendTransaction(ctx, gomatrixserverlib.Transaction{
		TransactionID:  gomatrixserverlib.TransactionID(txn.ID),
		Origin:         txn.Origin,
		Destination:    d.name,
		OriginServerTS: spec.AsTimestamp(time.Now()),
		PDUs:           txn.PDUs,
		EDUs:           edus,
	})
	if err != nil {
		return err
	}
	for id, r := range resp.PDUs {
		if r.Error != "" {
			slog.Warn("federation queue: destination refused event", "destination", d.name, "event_id", id, "error", r.Error)
		}
	}
	return nil
}

// failed sets the backoff after a failed transaction, in memory and in
// the database for whoever takes over.
func (d *destination) failed(txn *storage.Transaction, err error) {
	if d.reset.Swap(false) {
		d.failures = 0
	}
	d.failures++
	wait := backoff(d.q.cfg.MinBackoff, d.q.cfg.MaxBackoff, d.failures)
	if ra := retryAfter(err); ra > wait {
		wait = min(ra, d.q.cfg.MaxBackoff)
	}
	d.retryAt = time.Now().Add(wait)
	slog.Info("federation queue: transaction failed", "destination", d.name, "txn_id", txn.ID,
		"failures", d.failures, "retry_in", wait.Round(time.Millisecond), "err", describeSendError(err))
	err = d.record(func(ctx context.Context) error {
		return d.q.deps.Store.TransactionFailed(ctx, d.name, d.failures, d.retryAt)
	})
	if err != nil {
		slog.Warn("federation queue: record backoff", "destination", d.name, "err", err)
	}
}

// describeSendError makes an HTTP error readable: gomatrix prints the
// body as a list of byte values.
func describeSendError(err error) string {
	var he gomatrix.HTTPError
	if !errors.As(err, &he) {
		return err.Error()
	}
	body := he.Contents
	if len(body) > 200 {
		body = body[:200]
	}
	return fmt.Sprintf("HTTP %d: %s", he.Code, body)
}

// backoff doubles from lo with each failure, up to hi.
func backoff(lo, hi time.Duration, failures int) time.Duration {
	wait := lo
	for i := 1; i < failures && wait < hi; i++ {
		wait *= 2
	}
	return min(wait, hi)
}

// retryAfter is how long a 429 asked us to wait.
func retryAfter(err error) time.Duration {
	var he gomatrix.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusTooManyRequests {
		return 0
	}
	var body struct {
		RetryAfterMS int64 `json:"retry_after_ms"`
	}
	if json.Unmarshal(he.Contents, &body) != nil || body.RetryAfterMS <= 0 {
		return 0
	}
	return time.Duration(body.RetryAfterMS) * time.Millisecond
}

// newTxnID is unique among our transactions to any destination: the
// destination deduplicates by origin and id, also across our restarts.
func newTxnID() string {
	return fmt.Sprintf("%d-%s", time.Now().UnixMilli(), randomHex(6))
}

// sleep waits for d or the end of ctx and says whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
