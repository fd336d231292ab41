package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// Deps are what the roomserver needs from its surroundings.
type Deps struct {
	DB  *sqlutil.DB
	Bus *bus.Conn
	// Keys are the signing keys of the local server names.
	Keys []serverkey.Key
	// Outbox, if set, queues the events that leave the server in the
	// commit that stores them (outbox.go).
	Outbox Outbox
}

// Server is the roomserver.
type Server struct {
	cfg   *config.Config
	store *storage.Store
	bus   *bus.Conn
	keys  map[string]serverkey.Key
	// outbox may be nil: then the bus's consumers queue what leaves.
	outbox Outbox

	roomsMu sync.RWMutex
	rooms   map[string]*room
	loadMu  sync.Mutex

	tasks chan *task
	quit  chan struct{}
	done  chan struct{}
	// stopOnce makes a second Stop a no-op.
	stopOnce sync.Once
	// selfDestructWake nudges the loop that prunes self-destructing
	// events (self_destruct.go).
	selfDestructWake chan struct{}

	// counters are owned by the input loop.
	counters storage.Counters
	// commits counts the input loop's committed batches: a send that
	// checked its transaction id before looks again only if one committed
	// since (send.go).
	commits atomic.Uint64
	// published is the stream position up to which the bus has taken
	// every event; recordPublished keeps it in the database.
	published atomic.Int64
	// recordedPublished is what the database holds.
	recordMu          sync.Mutex
	recordedPublished int64
	// unlock releases the database lock that makes this the only
	// roomserver.
	unlock func()

	metrics *inputMetrics
}

var _ API = (*Server)(nil)

// New opens the roomserver's storage; Start begins accepting input.
func New(cfg *config.Config, deps Deps) (_ *Server, err error) {
	ctx := context.Background()
	// Exactly one roomserver may write the rooms: its counters and the
	// current state it holds in memory would go wrong beside another.
	unlock, err := deps.DB.ExclusiveLock(ctx, "roomserver")
	if errors.Is(err, sqlutil.ErrLocked) {
		return nil, errors.New("roomserver: another roomserver is running against this database")
	}
	if err != nil {
		return nil, fmt.Errorf("roomserver lock: %w", err)
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	store, err := storage.Open(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("roomserver storage: %w", err)
	}
	counters, err := store.LoadCounters(ctx)
	if err != nil {
		return nil, fmt.Errorf("roomserver counters: %w", err)
	}
	keys := map[string]serverkey.Key{}
	for _, k := range deps.Keys {
		keys[string(k.ServerName)] = k
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("roomserver: no signing keys")
	}
	return &Server{
		cfg: cfg, store: store, bus: deps.Bus, keys: keys, outbox: deps.Outbox,
		rooms: map[string]*room{}, tasks: make(chan *task, 1024),
		quit: make(chan struct{}), done: make(chan struct{}), counters: counters, unlock: unlock,
		selfDestructWake: make(chan struct{}, 1), metrics: newInputMetrics(),
	}, nil
}

// Store exposes the read side of the roomserver's tables to components
// that read events directly (syncapi, federationapi).
func (s *Server) Store() *storage.Store { return s.store }

// Start publishes what a crash left unpublished, then runs the input loop.
func (s *Server) Start(ctx context.Context) error {
	if err := s.replayUnpublished(ctx); err != nil {
		return fmt.Errorf("roomserver replay: %w", err)
	}
	go s.inputLoop()
	go s.selfDestructLoop()
	go s.backfillSearchText()
	go s.recordPublishedLoop()
	return nil
}

// Stop finishes the batch in progress and stops.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		close(s.quit)
		<-s.done
		s.recordPublished()
		s.unlock()
	})
}

// backfillSearchText fills the search column of events stored before it
// existed, beside the input loop (each page is one short write).
func (s *Server) backfillSearchText() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	n, err := s.store.BackfillSearchText(ctx, SearchText)
	if err != nil && ctx.Err() == nil {
		slog.Warn("roomserver: search backfill", "err", err)
	}
	if n > 0 {
		slog.Info("roomserver: search text backfilled", "events", n)
	}
}

// isLocal tells whether a server name is one this deployment serves.
func (s *Server) isLocal(name string) bool {
	_, ok := s.keys[name]
	return ok
}

func (s *Server) publish(outputs []OutputEvent) {
	if s.bus == nil || len(outputs) == 0 {
		return
	}
	defer func() {
		select {
		case <-s.quit:
			// Given up on: the replay at the next start publishes the rest.
		default:
			s.notePublished(outputs)
		}
	}()
	pending := outputs
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			// The events are committed and acknowledged: keep trying
			// until the bus takes them, or the process stops (then the
			// replay on the next start publishes them).
			delay := min(time.Duration(attempt)*100*time.Millisecond, 2*time.Second)
			slog.Warn("roomserver: retrying publication", "events", len(pending), "attempt", attempt)
			select {
			case <-time.After(delay):
			case <-s.quit:
				return
			}
		}
		pending = s.publishOnce(pending)
	}
}

// publishOnce publishes outputs and returns them from the first one the
// bus did not take. The event id is the message id, so that JetStream
// drops the copies a retry sends of events it had taken.
func (s *Server) publishOnce(outputs []OutputEvent) []OutputEvent {
	futures := make([]jetstream.PubAckFuture, len(outputs))
	for i := range outputs {
		data, err := json.Marshal(&outputs[i])
		if err != nil {
			slog.Error("marshal output event", "err", err)
			continue
		}
		msg := nats.NewMsg(bus.RoomEventsSubject)
		msg.Data = data
		msg.Header.Set(jetstream.MsgIDHeader, outputs[i].EventID)
		f, err := s.bus.JS.PublishMsgAsync(msg)
		if err != nil {
			slog.Error("publish output event", "event_id", outputs[i].EventID, "err", err)
			return outputs[i:]
		}
		futures[i] = f
	}
	failed := -1
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			slog.Error("publish output event", "event_id", outputs[i].EventID, "err", err)
			if failed < 0 {
				failed = i
			}
		}
	}
	if failed >= 0 {
		return outputs[failed:]
	}
	return nil
}

// anyKey is a local signing key, for events we build only to hand out as
// templates (their signature is replaced by the asking server's).
func (s *Server) anyKey() serverkey.Key {
	names := make([]string, 0, len(s.keys))
	for n := range s.keys {
		names = append(names, n)
	}
	slices.Sort(names)
	return s.keys[names[0]]
}
