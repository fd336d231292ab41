package delayedevents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rohrpost/rohrpost/internal/bus"
)

// Errors of the service's operations; the client API turns them into
// Matrix errors.
var (
	// ErrNotFound: no such delayed event of this user.
	ErrNotFound = errors.New("delayed event not found")
	// ErrDisabled: the server takes no delayed events (no maximum delay
	// configured, or a per-user limit of 0).
	ErrDisabled = errors.New("delayed events are disabled")
	// ErrDelayTooLong: the delay exceeds the configured maximum.
	ErrDelayTooLong = errors.New("delay exceeds the maximum")
	// ErrConflict: the event was already finalised in a way that
	// contradicts the action (cancel a sent one, restart a cancelled one),
	// or is being sent right now.
	ErrConflict = errors.New("delayed event already finalised")
)

// TooManyError says the user has as many events scheduled as allowed;
// RetryAfter is how long until the next of them is due.
type TooManyError struct{ RetryAfter time.Duration }

func (e *TooManyError) Error() string { return "too many delayed events scheduled" }

// Timing of sending. A claim outlives the send it covers (sendTimeout),
// so a live process never loses one; a dead one's run out and another
// process sends the event.
const (
	claimFor     = 30 * time.Second
	sendTimeout  = 20 * time.Second
	pollInterval = 5 * time.Second
	batchSize    = 50
	// maxAttempts bounds the tries of an event whose send failed for a
	// reason that may pass (the room server unreachable); then it fails.
	maxAttempts = 5
	// Finalised events are kept for lookup as long as MSC4140 suggests.
	keepFinalised     = 7 * 24 * time.Hour
	keepFinalisedUser = 1000
)

// wakeSubject tells every client API process that an event was
// scheduled or restarted and the next due time may be earlier (core
// NATS: a lost wake only delays sending until the next poll).
const wakeSubject = "rohrpost.clientapi.delayed_events.wake"

// SendFunc sends a due event as its user through the normal send path
// and returns the event id. A refusal is an *mxhttp.Error; a 4xx other
// than 429 is final, anything else may pass and is tried again.
type SendFunc func(ctx context.Context, e *Event) (eventID string, err error)

// Config are the limits (config.DelayedEvents) and this process's id.
type Config struct {
	MaxDelay   time.Duration
	MaxPerUser int
	// OwnerID names this process in claims; random when empty.
	OwnerID string
	// Now is the clock; time.Now when nil. Tests move it by hand.
	Now func() time.Time
}

// Service schedules, manages and sends delayed events.
type Service struct {
	cfg   Config
	store *Store
	send  SendFunc
	bus   *bus.Conn

	wake     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	sub      *nats.Subscription
	stopOnce sync.Once
	consumer stopper
}

type stopper interface{ Stop() }

// New builds the service; Start runs its timer. b may be nil (one
// process, no bus: no wakes across processes, no cancelling on state).
func New(cfg Config, store *Store, send SendFunc, b *bus.Conn) *Service {
	if cfg.OwnerID == "" {
		var r [8]byte
		_, _ = rand.Read(r[:])
		cfg.OwnerID = hex.EncodeToString(r[:])
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{cfg: cfg, store: store, send: send, bus: b, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

// Enabled tells whether clients may schedule delayed events.
func (s *Service) Enabled() bool { return s.cfg.MaxDelay > 0 && s.cfg.MaxPerUser > 0 }

// Limits are the maximum delay and number of scheduled events per user.
func (s *Service) Limits() (maxDelay time.Duration, maxPerUser int) {
	return s.cfg.MaxDelay, s.cfg.MaxPerUser
}

func (s *Service) nowMS() int64 { return s.cfg.Now().UnixMilli() }

// Start sends what is due, also what fell due while no process ran, and
// then follows the schedule until Stop.
func (s *Service) Start(ctx context.Context) error {
	if s.bus != nil {
		sub, err := s.bus.NC.Subscribe(wakeSubject, func(*nats.Msg) { s.poke() })
		if err != nil {
			return fmt.Errorf("delayed events wake: %w", err)
		}
		s.sub = sub
		c, err := s.followState(ctx)
		if err != nil {
			_ = sub.Unsubscribe()
			return err
		}
		s.consumer = c
	}
	s.wg.Add(1)
	go s.run()
	return nil
}

// Stop ends the timer and waits for a send in progress.
func (s *Service) Stop() {
	s.stopOnce.Do(func() {
		s.cancel()
		if s.sub != nil {
			_ = s.sub.Unsubscribe()
		}
		if s.consumer != nil {
			s.consumer.Stop()
		}
		s.wg.Wait()
	})
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// announce wakes the timers of every process (this one directly).
func (s *Service) announce() {
	s.poke()
	if s.bus != nil {
		if err := s.bus.NC.Publish(wakeSubject, nil); err != nil {
			slog.Warn("delayed events: publish wake", "err", err)
		}
	}
}

// ScheduleRequest is one event to send later.
type ScheduleRequest struct {
	UserID, DeviceID string
	// Txn is the request's transaction (endpoint and id); "" for none.
	Txn      string
	RoomID   string
	Type     string
	StateKey *string
	Content  json.RawMessage
	Delay    time.Duration
}

// Schedule stores the event and returns its delay id.
func (s *Service) Schedule(ctx context.Context, req ScheduleRequest) (string, error) {
	if !s.Enabled() {
		return "", ErrDisabled
	}
	if req.Delay > s.cfg.MaxDelay {
		return "", fmt.Errorf("%w: %d ms is longer than %d ms", ErrDelayTooLong, req.Delay.Milliseconds(), s.cfg.MaxDelay.Milliseconds())
	}
	now := s.nowMS()
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	e := &Event{DelayID: "de_" + hex.EncodeToString(r[:]), UserID: req.UserID, DeviceID: req.DeviceID, Txn: req.Txn,
		RoomID: req.RoomID, Type: req.Type, StateKey: req.StateKey, Content: req.Content,
		DelayMS: req.Delay.Milliseconds(), Scheduled: now, SendTS: now + req.Delay.Milliseconds()}
	id, err := s.store.Insert(ctx, e, s.cfg.MaxPerUser)
	var tm *errTooMany
	if errors.As(err, &tm) {
		return "", &TooManyError{RetryAfter: time.Duration(max(tm.nextSendTS-now, 0)) * time.Millisecond}
	}
	if err != nil {
		return "", err
	}
	s.announce()
	return id, nil
}

// Cancel makes sure the user's event is never sent. Cancelling one
// cancelled (or failed) before succeeds, so that a retry does.
func (s *Service) Cancel(ctx context.Context, user, delayID string) error {
	err := s.store.Cancel(ctx, user, delayID, s.nowMS())
	var fin *errFinal
	if errors.As(err, &fin) {
		switch {
		case fin.event.Status == StatusCancelled || fin.event.Status == StatusFailed:
			return nil
		default:
			return fmt.Errorf("%w: it was sent", ErrConflict)
		}
	}
	return err
}

// Restart moves the user's event to its delay from now: the heartbeat of
// a client in a call.
func (s *Service) Restart(ctx context.Context, user, delayID string) error {
	err := s.store.Restart(ctx, user, delayID, s.nowMS())
	var fin *errFinal
	if errors.As(err, &fin) {
		if fin.event.Status == StatusScheduled {
			return fmt.Errorf("%w: it is being sent", ErrConflict)
		}
		return fmt.Errorf("%w: it was %s", ErrConflict, fin.event.Status)
	}
	if err == nil {
		s.announce()
	}
	return err
}

// SendNow sends the user's event at once. Sending one already sent
// succeeds; a refusal is returned as it is, and the event stays
// scheduled, as MSC4140 asks (what failed now may pass by its time).
func (s *Service) SendNow(ctx context.Context, user, delayID string) error {
	claimed, err := s.store.Claim(ctx, s.cfg.OwnerID, s.nowMS(), s.nowMS()+claimFor.Milliseconds(), 1, user, delayID)
	if err != nil {
		return err
	}
	if len(claimed) == 0 {
		e, err := s.store.Get(ctx, user, delayID)
		if err != nil {
			return err
		}
		if e.Status == StatusSent || e.Status == StatusScheduled { // sent, or being sent by its timer
			return nil
		}
		return fmt.Errorf("%w: it was %s", ErrConflict, e.Status)
	}
	e := claimed[0]
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	eventID, sendErr := s.send(sctx, e)
	// The outcome is written even when the client hung up meanwhile.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer wcancel()
	if sendErr != nil {
		if err := s.store.Release(wctx, s.cfg.OwnerID, e.DelayID, 0); err != nil {
			slog.Warn("delayed events: release after failed send", "delay_id", e.DelayID, "err", err)
		}
		return sendErr
	}
	return s.store.Finish(wctx, s.cfg.OwnerID, e.DelayID, StatusSent, eventID, nil, s.nowMS())
}

// Get returns one of the user's delayed events.
func (s *Service) Get(ctx context.Context, user, delayID string) (*Event, error) {
	return s.store.Get(ctx, user, delayID)
}

// List returns the user's delayed events in the given statuses.
func (s *Service) List(ctx context.Context, user string, statuses, delayIDs []string) ([]*Event, error) {
	return s.store.List(ctx, user, statuses, delayIDs)
}
