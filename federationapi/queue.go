package federationapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/roomserver"
)

// The send queue (docs/decisions/0011-federation-send-queue.md). Every
// federation API process shares one durable consumer of the room event
// stream, so each event is queued once: for each destination a row in the
// database, committed before the bus message is acknowledged. Sending is
// per destination, one goroutine each, by whichever process holds the
// destination's lease in the database; a process that dies stops renewing
// its leases and another takes the destinations over when they run out.

const (
	// queueConsumer is the durable consumer the federation API processes
	// share.
	queueConsumer = "federation-sender"
	// queueWakeSubject tells every federation API process which
	// destinations have new rows (core NATS: the rows are committed, and a
	// lost wake only delays sending until the next poll).
	queueWakeSubject = "rohrpost.federationapi.queue_wake"
	// queueBatch bounds the bus messages queued in one database
	// transaction.
	queueBatch = 128
	// sendTimeout is a backstop for a transaction request; the federation
	// client has its own, shorter one.
	sendTimeout = 2 * time.Minute
)

// QueueConfig tunes the send queue; zero values take the defaults.
type QueueConfig struct {
	// OwnerID names this process in destination leases; empty picks a
	// unique one. No two running processes may share one (see
	// restartOwnerID).
	OwnerID string
	// LeaseDuration is how long a destination stays with a process that
	// stopped renewing (it died); renewed every third of it. Default 30s.
	LeaseDuration time.Duration
	// PollInterval is how often the database is asked for destinations
	// whose wake was lost or whose owner died. Default 5s.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed
	// transaction, doubling from the one to the other. Default 2s, 1h.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// IdleLinger is how long a worker whose queue ran empty keeps the
	// destination's lease, waiting for more, before it gives it back: the
	// next message is then sent without claiming the lease again, a
	// commit on its way. Default a third of LeaseDuration; negative: none.
	IdleLinger time.Duration
}

func (c *QueueConfig) defaults() {
	if c.OwnerID == "" {
		host, _ := os.Hostname()
		c.OwnerID = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), randomHex(4))
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 30 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 2 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Hour
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.IdleLinger == 0 {
		c.IdleLinger = c.LeaseDuration / 3
	}
}

// restartOwnerID is the owner id of a process whose bus is embedded (the
// one-process deployment), or "" for a unique one per start. It is the
// same after a restart, so a process killed with -9 takes its leases back
// at once instead of waiting for them to run out, with nobody sending
// meanwhile. It must never be shared by two running processes: the
// embedded bus's store directory (with the host name) is a resource only
// one running process can use, while a listen address is not (every
// container may listen on 0.0.0.0:8008). With an external NATS several
// federation API processes share the queue and a dead one's destinations
// move to the others; there each start gets a new id. Decision 0011,
// "Owner ids".
func restartOwnerID(cfg *config.Config) string {
	if len(cfg.NATS.Addresses) > 0 || cfg.NATS.StoreDir == "" {
		return ""
	}
	dir, err := filepath.Abs(cfg.NATS.StoreDir)
	if err != nil {
		return ""
	}
	host, _ := os.Hostname()
	return "embedded:" + host + ":" + dir
}

// transactionSender sends one transaction; fclient.FederationClient is one.
type transactionSender interface {
	SendTransaction(ctx context.Context, t gomatrixserverlib.Transaction) (fclient.RespSend, error)
}

// roomMembers tells who is in a room now; roomserver.API is one.
type roomMembers interface {
	JoinedMembers(ctx context.Context, roomID string) (map[string]roomserver.MemberProfile, error)
}

// QueueDeps are what the queue needs from the rest of the server.
type QueueDeps struct {
	Store  *storage.Store
	Bus    *bus.Conn
	Rooms  roomMembers
	Sender transactionSender
	// IsLocal says whether a server name is one of ours.
	IsLocal func(spec.ServerName) bool
	// Allowed says whether policy lets us talk to a server; nil allows all.
	Allowed func(spec.ServerName) bool
	// Outbox, if the roomserver of this process queues its events in its
	// commit, wakes the senders right after that commit (outbox.go).
	Outbox *Outbox
}

// ErrNotLocal is returned for an EDU whose origin is not a local server.
var ErrNotLocal = errors.New("origin is not a local server name")

// Queue sends PDUs and EDUs to other servers, durably.
type Queue struct {
	cfg  QueueConfig
	deps QueueDeps

	// ctx ends the workers on Stop.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	incoming chan jetstream.Msg
	consume  jetstream.ConsumeContext
	sub      *nats.Subscription
	detach   func()

	mu sync.Mutex
	// active holds the destinations this process works on, from the
	// attempt to claim the lease until the worker ends.
	active map[spec.ServerName]*destination
	// heldElsewhere remembers until when another process holds a lease,
	// so that every new event does not cost a failed claim.
	heldElsewhere map[spec.ServerName]time.Time
	stopped       bool
}

// NewQueue builds the queue; Start begins consuming and sending.
func NewQueue(cfg QueueConfig, deps QueueDeps) (*Queue, error) {
	switch {
	case deps.Store == nil:
		return nil, errors.New("federation queue: no store")
	case deps.Bus == nil:
		return nil, errors.New("federation queue: no bus")
	case deps.Rooms == nil:
		return nil, errors.New("federation queue: no roomserver")
	case deps.Sender == nil:
		return nil, errors.New("federation queue: no federation client")
	case deps.IsLocal == nil:
		return nil, errors.New("federation queue: no local server names")
	}
	if deps.Allowed == nil {
		deps.Allowed = func(spec.ServerName) bool { return true }
	}
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Queue{
		cfg: cfg, deps: deps, ctx: ctx, cancel: cancel,
		incoming:      make(chan jetstream.Msg, queueBatch),
		active:        map[spec.ServerName]*destination{},
		heldElsewhere: map[spec.ServerName]time.Time{},
	}, nil
}

// Start follows the room event stream, listens for other processes'
// wakes, and sends what was pending before.
func (q *Queue) Start(ctx context.Context) error {
	sub, err := q.deps.Bus.NC.Subscribe(queueWakeSubject, q.onWake)
	if err != nil {
		return fmt.Errorf("federation queue: subscribe: %w", err)
	}
	q.sub = sub
	c, err := q.deps.Bus.JS.CreateOrUpdateConsumer(ctx, bus.RoomEventsStream, jetstream.ConsumerConfig{
		Durable:       queueConsumer,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 4 * queueBatch,
		// No MaxDeliver: an event that cannot be queued now (the database
		// or the roomserver is away) must be queued later, not dropped.
	})
	if err != nil {
		return fmt.Errorf("federation queue: consumer: %w", err)
	}
	q.wg.Add(1)
	go q.queueLoop()
	if q.consume, err = c.Consume(q.onMessage); err != nil {
		q.cancel()
		return fmt.Errorf("federation queue: consume: %w", err)
	}
	q.deps.Bus.WatchConsumer(c)
	q.wg.Add(1)
	go q.maintain()
	if q.deps.Outbox != nil {
		q.detach = q.deps.Outbox.attach(q.notify)
	}
	q.poll()
	return nil
}

// Stop ends consuming and sending and gives up this process's leases, so
// that another process can take over at once. What is queued stays queued.
func (q *Queue) Stop() {
	q.halt()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.deps.Store.ReleaseAll(ctx, q.cfg.OwnerID); err != nil {
		slog.Warn("federation queue: release leases", "err", err)
	}
}

// halt stops everything but keeps the leases, as a process that dies does.
func (q *Queue) halt() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.stopped = true
	q.mu.Unlock()
	if q.detach != nil {
		q.detach()
	}
	// Cancel first: a message handler waiting to hand over a message
	// then gives it back to the bus instead of blocking the consumer's stop.
	q.cancel()
	if q.sub != nil {
		_ = q.sub.Unsubscribe()
	}
	if q.consume != nil {
		q.consume.Stop()
	}
	q.wg.Wait()
}

// SendEDU queues an EDU for the destinations (local and refused ones are
// left out). Its Origin must be a local server name: it is the origin of
// the transaction that carries it. It returns once the EDU is stored.
func (q *Queue) SendEDU(ctx context.Context, destinations []spec.ServerName, edu gomatrixserverlib.EDU) error {
	origin := spec.ServerName(edu.Origin)
	if !q.deps.IsLocal(origin) {
		return fmt.Errorf("send %s EDU from %q: %w", edu.Type, origin, ErrNotLocal)
	}
	dests := q.remote(destinations)
	if len(dests) == 0 {
		return nil
	}
	body, err := json.Marshal(gomatrixserverlib.EDU{Type: edu.Type, Origin: edu.Origin, Content: edu.Content})
	if err != nil {
		return fmt.Errorf("send %s EDU: %w", edu.Type, err)
	}
	if err := q.deps.Store.Enqueue(ctx, []storage.Outgoing{{Kind: storage.EDU, Origin: origin, JSON: body, Destinations: dests}}); err != nil {
		return fmt.Errorf("send %s EDU: %w", edu.Type, err)
	}
	q.announce(dests)
	return nil
}

// remote keeps the destinations we send to: not ours, allowed, once each.
func (q *Queue) remote(names []spec.ServerName) []spec.ServerName {
	return remoteServers(names, q.deps.IsLocal, q.deps.Allowed)
}

func (q *Queue) onMessage(msg jetstream.Msg) {
	select {
	case q.incoming <- msg:
	case <-q.ctx.Done():
		// Let another process (or the next start) have it now rather
		// than after the ack wait.
		_ = msg.Nak()
	}
}

// queueLoop stores the events that wait, as many as it can in one
// database transaction, and only then acknowledges them.
func (q *Queue) queueLoop() {
	defer q.wg.Done()
	batch := make([]jetstream.Msg, 0, queueBatch)
	for {
		select {
		case m := <-q.incoming:
			batch = append(batch[:0], m)
		case <-q.ctx.Done():
			for {
				select {
				case m := <-q.incoming:
					_ = m.Nak()
				default:
					return
				}
			}
		}
	gather:
		for len(batch) < queueBatch {
			select {
			case m := <-q.incoming:
				batch = append(batch, m)
			default:
				break gather
			}
		}
		q.queueEvents(batch)
	}
}

// queueEvents queues a batch of room events in stream order. When the
// destinations of one cannot be worked out, it and the ones after it are
// handed back to the bus, so that order is kept.
func (q *Queue) queueEvents(msgs []jetstream.Msg) {
	ctx, cancel := context.WithTimeout(q.ctx, time.Minute)
	defer cancel()
	var (
		items   []storage.Outgoing
		woken   []spec.ServerName
		members = map[string][]spec.ServerName{}
	)
	for i, m := range msgs {
		var ev roomserver.OutputEvent
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			slog.Error("federation queue: bad output event", "err", err)
			continue
		}
		dests, err := q.destinationsOf(ctx, &ev, members)
		if err != nil {
			slog.Warn("federation queue: destinations", "room_id", ev.RoomID, "event_id", ev.EventID, "err", err)
			nakAll(msgs[i:])
			msgs = msgs[:i]
			break
		}
		if len(dests) == 0 {
			continue
		}
		if !ev.Queued {
			items = append(items, outgoingPDU(&ev, dests))
		}
		woken = append(woken, dests...)
	}
	if err := q.deps.Store.Enqueue(ctx, items); err != nil {
		slog.Error("federation queue: store", "events", len(msgs), "err", err)
		nakAll(msgs)
		return
	}
	for _, m := range msgs {
		_ = m.Ack()
	}
	slices.Sort(woken)
	q.announce(slices.Compact(woken))
}

func nakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.NakWithDelay(5 * time.Second)
	}
}

// destinationsOf is where an event goes: the servers of the room's joined
// members and, for a membership event, the server of its subject (so that
// a server whose user left, was kicked or invited hears of it); never
// ours, never refused ones. Only our own events are sent: a remote
// server sends its own. members caches the servers of each room for one
// batch; it is current state either way.
func (q *Queue) destinationsOf(ctx context.Context, ev *roomserver.OutputEvent, members map[string][]spec.ServerName) ([]spec.ServerName, error) {
	if !q.deps.IsLocal(domainOf(ev.Sender)) || len(ev.PDU) == 0 {
		return nil, nil
	}
	if ev.Known {
		return knownDestinations(ev, q.deps.IsLocal, q.deps.Allowed), nil
	}
	servers, ok := members[ev.RoomID]
	if !ok || ev.Type == spec.MRoomMember {
		joined, err := q.deps.Rooms.JoinedMembers(ctx, ev.RoomID)
		if err != nil {
			return nil, err
		}
		servers = servers[:0:0]
		for user := range joined {
			servers = append(servers, domainOf(user))
		}
		members[ev.RoomID] = servers
	}
	all := servers
	if tellsTarget(ev) {
		all = append(slices.Clip(servers), domainOf(*ev.StateKey))
	}
	dests := q.remote(all)
	slices.Sort(dests)
	return dests, nil
}

// domainOf is the server name of a user id.
func domainOf(userID string) spec.ServerName {
	if _, domain, ok := strings.Cut(userID, ":"); ok {
		return spec.ServerName(domain)
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tellsTarget says whether a member event goes to its target's server
// even when that server is not in the room: a kick or ban, so that the
// server learns its user is out. An invite reaches it through /invite,
// and a copy through /send as well would race with the invitee's join.
func tellsTarget(ev *roomserver.OutputEvent) bool {
	if ev.Type != spec.MRoomMember || ev.StateKey == nil {
		return false
	}
	return ev.Membership == spec.Leave || ev.Membership == spec.Ban
}
