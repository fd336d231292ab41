package syncapi

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
	uastorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// Deps are the sync API's collaborators.
type Deps struct {
	DB    *sqlutil.DB
	Bus   *bus.Conn
	Users userapi.API
	Rooms roomserver.API
	// History fetches a room's older history from other servers when a
	// client pages back past what we hold; nil keeps /messages local.
	History HistoryFetcher
	// RemoteToDevice sends to-device messages to users of other servers
	// (todevice_federation.go); nil drops them.
	RemoteToDevice RemoteToDevice
}

// HistoryFetcher backfills a room from other servers, before its oldest
// event or into a hole of its timeline; the federation API implements it.
type HistoryFetcher interface {
	BackfillRoom(ctx context.Context, roomID string, limit int) (int, error)
	FillHole(ctx context.Context, roomID, eventID string, limit int) (int, error)
}

// Server is the sync API.
type Server struct {
	cfg    *config.Config
	events rsstorage.Reader
	// accountData is the user API's tables, read directly like the room
	// tables (docs/decisions/0001): each sync reads the account data and
	// key changes, each /sendToDevice the recipients' device ids.
	accountData uastorage.Reader
	store       *storage.Store
	bus         *bus.Conn
	users       userapi.API
	rooms       roomserver.API
	history     HistoryFetcher
	remoteTD    RemoteToDevice
	notifier    *notifier
	typing      *typingState
	lazy        *lazyMembers
	unread      *unreadCounter
	filters     filterCache
	erased      userapi.ErasedSet
	pushes      *pushSender
	roomIndex   *roomIndex

	consumers []jetstream.ConsumeContext
	subs      []*nats.Subscription
	quit      chan struct{}

	waiting waitCount // metrics.go
}

// New opens the sync API's storage and reads the current positions.
func New(cfg *config.Config, deps Deps) (*Server, error) {
	ctx := context.Background()
	store, err := storage.Open(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("syncapi storage: %w", err)
	}
	events, err := rsstorage.OpenReader(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("syncapi room events: %w", err)
	}
	accountData, err := uastorage.OpenReader(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("syncapi account data: %w", err)
	}
	s := &Server{cfg: cfg, events: events, accountData: accountData, store: store, bus: deps.Bus, users: deps.Users, rooms: deps.Rooms, history: deps.History,
		typing: newTypingState(), lazy: newLazyMembers(), unread: newUnreadCounter(), roomIndex: newRoomIndex(), quit: make(chan struct{})}
	s.remoteTD = deps.RemoteToDevice
	// Gateways are checked like other servers (tls_client: verify, ca_file).
	tlsCfg, err := cfg.TLSClient.TLS()
	if err != nil {
		return nil, fmt.Errorf("syncapi push: %w", err)
	}
	s.pushes = newPushSender(deps.Users, cfg.Push.IPRangeBlacklist, cfg.Push.IncludeContent, tlsCfg, s.quit)
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
	ad, err := s.accountData.AccountDataPosition(ctx)
	if err != nil {
		return Token{}, err
	}
	presence, err := s.store.MaxPresencePos(ctx)
	if err != nil {
		return Token{}, err
	}
	toDevice, err := s.store.MaxToDevicePos(ctx)
	if err != nil {
		return Token{}, err
	}
	keys, err := s.accountData.KeyChangePosition(ctx)
	if err != nil {
		return Token{}, err
	}
	return Token{PDU: pdu, Typing: s.typing.position(), Receipt: receipt, AccountData: ad, Presence: presence, ToDevice: toDevice,
		DeviceList: keys}, nil
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
