package adminapi

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/adminapi/storage"
	"github.com/rohrpost/rohrpost/bundesmessenger"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi"
	fedstorage "github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/mediaapi"
	mediastorage "github.com/rohrpost/rohrpost/mediaapi/storage"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
	usstorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// Deps are what the admin API calls and reads.
type Deps struct {
	Users userapi.API
	Rooms roomserver.API
	Media mediaapi.API
	// DB holds the audit log, and the tables admin listings read
	// (docs/decisions/0020).
	DB *sqlutil.DB
	// OnDeactivate runs after an admin deactivated an account (the
	// composition root makes the user leave their rooms).
	OnDeactivate func(ctx context.Context, user spec.UserID)
	// OnProfileChange runs after an admin changed a user's profile.
	OnProfileChange func(ctx context.Context, user spec.UserID, p userapi.Profile)
	// Federation resets the send queue's backoff; nil without one.
	Federation federationapi.API
	// Maintenance is the BundesMessenger apps' maintenance document
	// (adminapi/bundesmessenger.go); nil answers 404 there.
	Maintenance *bundesmessenger.Maintenance
}

// Server holds the admin API's handlers. Its zero value registers the
// routes (the gateway walks them) but serves nothing.
type Server struct {
	cfg   *config.Config
	users userapi.API
	rooms roomserver.API
	media mediaapi.API
	store *storage.Store
	// userStore is read for the user list (decision 0020).
	userStore usstorage.Reader
	// roomStore is read for the room list (decision 0020).
	roomStore rsstorage.Reader
	// mediaStore is read for media listings (decision 0020).
	mediaStore      mediastorage.Reader
	onDeactivate    func(ctx context.Context, user spec.UserID)
	onProfileChange func(ctx context.Context, user spec.UserID, p userapi.Profile)
	fed             federationapi.API
	fedStore        fedstorage.Reader // the federation destinations (decision 0020)
	maintenance     *bundesmessenger.Maintenance
}

// New builds the admin API and migrates its tables.
func New(ctx context.Context, cfg *config.Config, deps Deps) (*Server, error) {
	store, err := storage.Open(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("adminapi storage: %w", err)
	}
	userStore, err := usstorage.OpenReader(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("adminapi: user tables: %w", err)
	}
	roomStore, err := rsstorage.OpenReader(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("adminapi: room tables: %w", err)
	}
	fedStore, err := fedstorage.OpenReader(ctx, deps.DB)
	if err != nil {
		return nil, fmt.Errorf("adminapi: federation tables: %w", err)
	}
	return &Server{cfg: cfg, users: deps.Users, rooms: deps.Rooms, fed: deps.Federation, fedStore: fedStore, media: deps.Media, store: store, userStore: userStore,
		roomStore: roomStore, mediaStore: &lazyMediaReader{db: deps.DB}, onDeactivate: deps.OnDeactivate, onProfileChange: deps.OnProfileChange,
		maintenance: deps.Maintenance}, nil
}

// serverVersion is rohrpost's version as the build recorded it.
func serverVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "rohrpost"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return "rohrpost " + v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "rohrpost git-" + s.Value[:12]
		}
	}
	return "rohrpost dev"
}
