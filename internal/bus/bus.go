package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream and subject names. Per-server data carries the server name in the
// payload, not the subject, so one stream serves many server names.
const (
	// RoomEventsStream holds the roomserver's output: every event it
	// accepted, in commit order. Subjects: RoomEventsSubject.
	RoomEventsStream  = "ROOM_EVENTS"
	RoomEventsSubject = "rohrpost.roomserver.output"
	// TypingStream orders typing notifications; its sequence numbers are
	// the typing positions in sync tokens, the same on every sync server.
	TypingStream  = "TYPING"
	TypingSubject = "rohrpost.syncapi.typing"
	// SyncWakeSubject tells every sync server that a stream kept in the
	// database (receipts, presence) advanced (core NATS: the data is
	// committed, a lost message only delays delivery).
	SyncWakeSubject = "rohrpost.syncapi.wake"
	// AccountDataSubject carries userapi.AccountDataChanged (core NATS).
	AccountDataSubject = "rohrpost.userapi.account_data"
	// TokensForgottenSubject tells every user API replica which access
	// tokens to drop from its cache (core NATS).
	TokensForgottenSubject = "rohrpost.userapi.tokens_forgotten"
	// KeyChangesSubject carries userapi.KeyChanged.
	KeyChangesSubject = "rohrpost.userapi.key_changes"
	// DevicesDeletedSubject carries userapi.DevicesDeleted.
	DevicesDeletedSubject = "rohrpost.userapi.devices_deleted"
	// UserErasedSubject carries userapi.UserErased (core NATS; sync
	// servers also read the erased accounts at start).
	UserErasedSubject = "rohrpost.userapi.user_erased"
	// EphemeralStream carries typing, receipts and presence between the
	// sync API and the federation API as the spec's EDUs
	// (gomatrixserverlib.EDU): EphemeralOutSubject the changes of local
	// users for other servers, EphemeralInSubject what other servers sent
	// and the federation API accepted. Each side's processes share one
	// durable consumer, so an EDU is handled once.
	EphemeralStream     = "EPHEMERAL"
	EphemeralOutSubject = "rohrpost.syncapi.ephemeral_out"
	EphemeralInSubject  = "rohrpost.federationapi.ephemeral_in"
)

// Options choose an embedded or external NATS.
type Options struct {
	// Addresses of an external cluster; empty means embedded.
	Addresses []string
	// StoreDir is where the embedded server keeps JetStream data.
	StoreDir string
	// Replicas of each stream and bucket in a cluster; 0 means 1.
	Replicas int
}

// Conn is a connection to the bus and, when embedded, the server itself.
type Conn struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	embedded *server.Server
	replicas int

	mu          sync.Mutex
	onReconnect []func()
	watched     []jetstream.Consumer // metrics.go
}

// OnReconnect registers f to run after the connection to an external
// NATS came back: whatever was broadcast meanwhile is lost, so caches
// kept up to date by broadcasts must be dropped.
func (c *Conn) OnReconnect(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onReconnect = append(c.onReconnect, f)
}

func (c *Conn) reconnected(*nats.Conn) {
	c.mu.Lock()
	fs := append([]func(){}, c.onReconnect...)
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Connect starts an embedded server or dials the external cluster, then
// makes sure the streams exist.
func Connect(ctx context.Context, opts Options) (*Conn, error) {
	c := &Conn{replicas: max(opts.Replicas, 1)}
	var err error
	if len(opts.Addresses) == 0 {
		ns, err := server.NewServer(&server.Options{
			ServerName: "rohrpost-embedded",
			DontListen: true,
			JetStream:  true,
			StoreDir:   opts.StoreDir,
			NoLog:      true,
			NoSigs:     true,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			ns.Shutdown()
			return nil, errors.New("embedded nats did not start")
		}
		c.embedded = ns
		c.NC, err = nats.Connect("", nats.InProcessServer(ns), nats.Name("rohrpost"))
		if err != nil {
			ns.Shutdown()
			return nil, fmt.Errorf("connect to embedded nats: %w", err)
		}
	} else {
		c.NC, err = nats.Connect(strings.Join(opts.Addresses, ","), nats.Name("rohrpost"),
			nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond), nats.ReconnectHandler(c.reconnected))
		if err != nil {
			return nil, fmt.Errorf("connect to nats %v: %w", opts.Addresses, err)
		}
	}
	c.JS, err = jetstream.New(c.NC)
	if err != nil {
		c.Close()
		return nil, err
	}
	if err := c.ensureStreams(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// RoomEventsMaxAge is how long the output stream keeps an event: long
// enough for a consumer to come back after downtime, short enough that
// the bus does not hold a second copy of the room history.
const RoomEventsMaxAge = 7 * 24 * time.Hour

func (c *Conn) ensureStreams(ctx context.Context) error {
	_, err := c.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      RoomEventsStream,
		Replicas:  c.replicas,
		Subjects:  []string{RoomEventsSubject},
		Storage:   jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy,
		MaxAge:    RoomEventsMaxAge,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", RoomEventsStream, err)
	}
	_, err = c.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       TypingStream,
		Replicas:   c.replicas,
		Subjects:   []string{TypingSubject},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     10 * time.Minute,
		Duplicates: 5 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", TypingStream, err)
	}
	_, err = c.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       EphemeralStream,
		Replicas:   c.replicas,
		Subjects:   []string{EphemeralOutSubject, EphemeralInSubject},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     time.Hour,
		Duplicates: 5 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", EphemeralStream, err)
	}
	return nil
}

// Close drains the connection and stops an embedded server.
func (c *Conn) Close() {
	if c.NC != nil {
		_ = c.NC.Drain()
		c.NC.Close()
	}
	if c.embedded != nil {
		c.embedded.Shutdown()
		c.embedded.WaitForShutdown()
	}
}

// KeyValue opens (creating or updating) a key-value bucket: small shared
// state such as authentication sessions that every replica must see.
func (c *Conn) KeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	cfg.Replicas = c.replicas
	return c.JS.CreateOrUpdateKeyValue(ctx, cfg)
}
