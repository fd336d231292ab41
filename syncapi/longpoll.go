package syncapi

import (
	"context"
	"time"
)

// look builds an answer at position to. final: the answer is to be sent
// now (something is new, or the client does not wait); otherwise it is
// built again after the next wake. stop, when set, ends what look
// registered for this round (the rooms a device peeks into).
type look[T any] func(to Token) (answer T, final bool, stop func(), err error)

// longPoll is what /sync and sliding sync share: the client's presence is
// touched as it asked, then an answer is built at the newest position
// (what is committed may be ahead of what the bus has told the notifier:
// a client syncing right after its own write must see it), and, until one
// is final, built again after each wake of the user, up to timeout. When
// the timeout passes the last answer built goes out; when the client goes,
// nothing. Listening starts before looking, so an event that lands while
// an answer is built still wakes us, and everything a round registered is
// ended however it ends.
func longPoll[T any](ctx context.Context, s *Server, user, setPresence string, timeout time.Duration, build look[T]) (T, error) {
	var zero T
	if setPresence != "offline" {
		if err := s.touchPresence(ctx, user, setPresence); err != nil {
			return zero, err
		}
	}
	deadline := time.Now().Add(timeout)
	committed, err := s.latestToken(ctx)
	if err != nil {
		return zero, err
	}
	for {
		wake, stopListening := s.notifier.listen(user)
		answer, final, stopRound, err := build(s.notifier.position().Max(committed))
		end := func() {
			stopListening()
			if stopRound != nil {
				stopRound()
			}
		}
		remaining := time.Until(deadline)
		if err != nil || final || remaining <= 0 {
			end()
			return answer, err
		}
		timer := time.NewTimer(remaining)
		s.waiting.parked()
		select {
		case <-wake:
			s.waiting.unparked()
			timer.Stop()
			end()
		case <-timer.C:
			s.waiting.unparked()
			end()
			return answer, nil
		case <-ctx.Done():
			s.waiting.unparked()
			timer.Stop()
			end()
			return zero, ctx.Err()
		}
	}
}
