package syncapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// Deps are the sync API's collaborators.
type Deps struct {
	DB    *sqlutil.DB
	Bus   *bus.Conn
	Users userapi.API
	Rooms roomserver.API
}

// Server is the sync API.
type Server struct {
	cfg      *config.Config
	events   *rsstorage.Store
	store    *storage.Store
	bus      *bus.Conn
	users    userapi.API
	rooms    roomserver.API
	notifier *notifier
	typing   *typingState
	lazy     *lazyMembers
	unread   *unreadCounter

	consumer jetstream.ConsumeContext
	quit     chan struct{}
}

// New opens the sync API's storage and reads the current positions.
func New(cfg *config.Config, deps Deps) (*Server, error) {
	ctx := context.Background()
	store, err := storage.Open(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("syncapi storage: %w", err)
	}
	events, err := rsstorage.Open(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("syncapi room events: %w", err)
	}
	s := &Server{cfg: cfg, events: events, store: store, bus: deps.Bus, users: deps.Users, rooms: deps.Rooms,
		typing: newTypingState(), lazy: newLazyMembers(), unread: newUnreadCounter(), quit: make(chan struct{})}
	start, err := s.latestToken(ctx)
	if err != nil {
		return nil, err
	}
	s.notifier = newNotifier(start)
	return s, nil
}

// latestToken reads every stream's newest position from its source.
func (s *Server) latestToken(ctx context.Context) (Token, error) {
	pdu, err := s.events.MaxStreamPos(ctx)
	if err != nil {
		return Token{}, err
	}
	receipt, err := s.store.MaxReceiptPos(ctx)
	if err != nil {
		return Token{}, err
	}
	ad, err := s.users.AccountDataPosition(ctx)
	if err != nil {
		return Token{}, err
	}
	presence, err := s.store.MaxPresencePos(ctx)
	if err != nil {
		return Token{}, err
	}
	return Token{PDU: pdu, Typing: s.typing.position(), Receipt: receipt, AccountData: ad, Presence: presence}, nil
}

// Start consumes the roomserver's output from now on and expires typing.
func (s *Server) Start(ctx context.Context) error {
	if s.bus != nil {
		cons, err := s.bus.JS.OrderedConsumer(ctx, bus.RoomEventsStream, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverNewPolicy,
		})
		if err != nil {
			return fmt.Errorf("syncapi consumer: %w", err)
		}
		s.consumer, err = cons.Consume(func(msg jetstream.Msg) {
			s.onRoomEvent(msg.Data())
		})
		if err != nil {
			return fmt.Errorf("syncapi consume: %w", err)
		}
	}
	go s.expireTyping()
	return nil
}

// Stop ends consumption.
func (s *Server) Stop() {
	close(s.quit)
	if s.consumer != nil {
		s.consumer.Stop()
	}
}

func (s *Server) onRoomEvent(data []byte) {
	var ev roomserver.OutputEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		slog.Error("syncapi: bad output event", "err", err)
		return
	}
	s.ensureRoomMembers(ev.RoomID)
	var extra []string
	if ev.Membership != "" && ev.StateKey != nil {
		s.notifier.setMembership(ev.RoomID, *ev.StateKey, ev.Membership)
		extra = append(extra, *ev.StateKey)
	}
	s.notifier.advanceRoom(Token{PDU: ev.StreamPos}, ev.RoomID, extra...)
}

// ensureRoomMembers loads a room's members into the notifier once.
func (s *Server) ensureRoomMembers(roomID string) {
	if s.notifier.hasRoom(roomID) {
		return
	}
	members, err := s.rooms.JoinedMembers(context.Background(), roomID)
	if err != nil {
		slog.Warn("syncapi: load room members", "room_id", roomID, "err", err)
		return
	}
	users := make([]string, 0, len(members))
	for u := range members {
		users = append(users, u)
	}
	s.notifier.setRoom(roomID, users)
}

func (s *Server) expireTyping() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.quit:
			return
		case now := <-tick.C:
			rooms, pos := s.typing.expire(now)
			for _, r := range rooms {
				s.ensureRoomMembers(r)
				s.notifier.advanceRoom(Token{Typing: pos}, r)
			}
		}
	}
}
