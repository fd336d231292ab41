package delayedevents

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// run sends events as they fall due. Every process runs it; the claims
// decide which one sends an event. It sleeps until the next event is due
// (read from the database, so that events scheduled elsewhere count),
// woken early by a new or restarted event, and looks at least every
// pollInterval in case a wake was lost or a dead process left a claim.
func (s *Service) run() {
	defer s.wg.Done()
	lastPrune := time.Time{}
	for {
		next := s.FireDue(s.ctx)
		if s.ctx.Err() != nil {
			return
		}
		if now := s.cfg.Now(); now.Sub(lastPrune) > time.Hour {
			lastPrune = now
			s.prune()
		}
		wait := pollInterval
		if next > 0 {
			if d := time.Duration(next-s.nowMS()) * time.Millisecond; d < wait {
				wait = max(d, 0)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// FireDue sends every event due now, oldest due first, and returns when
// the next one is due (0: none scheduled).
func (s *Service) FireDue(ctx context.Context) (next int64) {
	for ctx.Err() == nil {
		now := s.nowMS()
		claimed, err := s.store.Claim(ctx, s.cfg.OwnerID, now, now+claimFor.Milliseconds(), batchSize, "", "")
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("delayed events: claim due events", "err", err)
			}
			break
		}
		for _, e := range claimed {
			s.fire(ctx, e)
		}
		if len(claimed) < batchSize {
			break
		}
	}
	next, err := s.store.NextDue(ctx)
	if err != nil && ctx.Err() == nil {
		slog.Warn("delayed events: next due", "err", err)
	}
	return next
}

// fire sends one claimed event and records the outcome. A refusal (the
// user may no longer send it) finalises it as failed with the error, to
// be looked up by the client, never tried again; a failure that may pass
// is tried again later, at most maxAttempts times in all.
func (s *Service) fire(ctx context.Context, e *Event) {
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	eventID, err := s.send(sctx, e)
	cancel()
	// Recorded even when the process is stopping: the event was sent.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer wcancel()
	if err == nil {
		if err := s.store.Finish(wctx, s.cfg.OwnerID, e.DelayID, StatusSent, eventID, nil, s.nowMS()); err != nil {
			// The claim runs out and the event is sent again, with the
			// same transaction id: the room server answers with this
			// event, it does not make a second one.
			slog.Warn("delayed events: record sent", "delay_id", e.DelayID, "err", err)
		}
		return
	}
	var mx *mxhttp.Error
	final := errors.As(err, &mx) && mx.Status >= 400 && mx.Status < 500 && mx.Status != http.StatusTooManyRequests
	if !final && ctx.Err() != nil {
		// Stopping: give it back for the next process, untried.
		if rerr := s.store.Release(wctx, s.cfg.OwnerID, e.DelayID, 0); rerr != nil {
			slog.Warn("delayed events: release", "delay_id", e.DelayID, "err", rerr)
		}
		return
	}
	if !final && e.Attempts < maxAttempts {
		retry := s.nowMS() + (time.Duration(1<<e.Attempts) * time.Second).Milliseconds()
		slog.Warn("delayed events: send failed, will try again", "delay_id", e.DelayID, "attempt", e.Attempts, "err", err)
		if rerr := s.store.Release(wctx, s.cfg.OwnerID, e.DelayID, retry); rerr != nil {
			slog.Warn("delayed events: release", "delay_id", e.DelayID, "err", rerr)
		}
		return
	}
	if mx == nil {
		mx = mxhttp.Internal("the event could not be sent")
	}
	body, _ := json.Marshal(mx)
	slog.Info("delayed events: send refused", "delay_id", e.DelayID, "user", e.UserID, "room", e.RoomID, "err", err)
	if ferr := s.store.Finish(wctx, s.cfg.OwnerID, e.DelayID, StatusFailed, "", body, s.nowMS()); ferr != nil {
		slog.Warn("delayed events: record failure", "delay_id", e.DelayID, "err", ferr)
	}
}

// prune drops finalised events past their time for lookups. Any process
// may: deleting twice deletes nothing more.
func (s *Service) prune() {
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	before := s.cfg.Now().Add(-keepFinalised).UnixMilli()
	if err := s.store.Prune(ctx, before, keepFinalisedUser); err != nil && s.ctx.Err() == nil {
		slog.Warn("delayed events: prune", "err", err)
	}
}
