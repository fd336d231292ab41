package clientapi

import (
	"context"
	"fmt"
	"github.com/rohrpost/rohrpost/internal/mailer"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/clientapi/delayedevents"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/ratelimit"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	mediastorage "github.com/rohrpost/rohrpost/mediaapi/storage"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// Deps are the component APIs the client API calls.
type Deps struct {
	Users userapi.API
	Rooms roomserver.API
	// Federation acts towards other servers (remote joins and aliases);
	// nil keeps the client API to local rooms.
	Federation federationapi.API
	// Bus holds state that every replica shares (authentication sessions).
	Bus *bus.Conn
	// RoomStore is read for room state at past events, which the
	// roomserver API does not offer. Nil disables those reads.
	RoomStore rsstorage.Reader
	// OnProfileChange runs after a user changed their profile (the
	// composition root updates the user's member events).
	OnProfileChange func(ctx context.Context, user spec.UserID, p userapi.Profile)
	// OnDeactivate runs after an account was deactivated.
	OnDeactivate func(ctx context.Context, user spec.UserID)
	// DB holds the delayed events (delayedevents); nil disables them.
	DB *sqlutil.DB
}

// Server holds the client API's handlers.
type Server struct {
	cfg   *config.Config
	users userapi.API
	rooms roomserver.API
	fed   federationapi.API
	// roomStore may be nil; see Deps.RoomStore.
	roomStore rsstorage.Reader
	uia       *uiaSessions
	// nonces are the outstanding shared-secret registration nonces.
	nonces *registrationNonces
	// mailer sends validation links; nil when no SMTP server is configured.
	mailer *mailer.Mailer

	onProfileChange func(ctx context.Context, user spec.UserID, p userapi.Profile)
	onDeactivate    func(ctx context.Context, user spec.UserID)
	// limits are the rc_* limits (ratelimit.go); nil when disabled.
	limits *ratelimit.Limiter
	// roomBlocked is the admin API's room blocking (blocked_rooms.go).
	roomBlocked func(ctx context.Context, roomID string) (bool, error)
	// oidc are the OIDC providers (oidc.go), made on first use.
	oidc oidcProviders
	// delayed holds and sends delayed events (delayed_events.go); nil
	// without a database.
	delayed *delayedevents.Service
	// media is read for the size of avatars (avatar_size.go); nil
	// without max_avatar_size.
	media mediastorage.Reader
}

// New builds the client API.
func New(cfg *config.Config, deps Deps) (*Server, error) {
	ctx := context.Background()
	uia, err := newUIASessions(ctx, deps.Bus)
	if err != nil {
		return nil, err
	}
	nonces, err := newRegistrationNonces(ctx, deps.Bus)
	if err != nil {
		return nil, err
	}
	limits, err := ratelimit.New(ctx, cfg, deps.Bus)
	if err != nil {
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	s := &Server{cfg: cfg, users: deps.Users, rooms: deps.Rooms, fed: deps.Federation, roomStore: deps.RoomStore, uia: uia, nonces: nonces,
		mailer: newMailer(cfg), onProfileChange: deps.OnProfileChange, onDeactivate: deps.OnDeactivate, limits: limits}
	if deps.DB != nil {
		store, err := delayedevents.OpenStore(ctx, deps.DB)
		if err != nil {
			return nil, fmt.Errorf("delayed events: %w", err)
		}
		s.delayed = delayedevents.New(delayedevents.Config{MaxDelay: time.Duration(cfg.DelayedEvents.MaxEventDelayDuration),
			MaxPerUser: cfg.DelayedEvents.MaxDelayedEventsPerUser}, store, s.sendDelayed, deps.Bus)
	}
	if err := s.openMediaReader(ctx, deps.DB); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs the client API's background work: sending delayed events
// when they are due.
func (s *Server) Start(ctx context.Context) error {
	if s.delayed != nil {
		return s.delayed.Start(ctx)
	}
	return nil
}

// Stop ends what Start began.
func (s *Server) Stop() {
	if s.delayed != nil {
		s.delayed.Stop()
	}
}

func newMailer(cfg *config.Config) *mailer.Mailer {
	e := cfg.Email
	return mailer.New(mailer.Config{Host: e.SMTPHost, Port: e.SMTPPort, From: e.NotifFrom, Username: e.SMTPUser,
		Password: e.SMTPPass, RequireTLS: e.RequireTransportSecurity, HelloName: string(cfg.ServerName)})
}
