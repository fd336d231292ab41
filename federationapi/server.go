package federationapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/lru"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/mediaapi"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// Deps are what the federation API needs from its surroundings.
type Deps struct {
	DB    *sqlutil.DB
	Bus   *bus.Conn
	Keys  []serverkey.Key
	Users userapi.API
	Rooms roomserver.API
	// Media serves our media to other servers (media.go); nil: none.
	Media mediaapi.API
	// Outbox is the one the roomserver of this process queues our events
	// with (outbox.go); nil when the roomserver runs elsewhere.
	Outbox *Outbox
}

// Server serves the federation endpoints and acts for local users towards
// other servers.
type Server struct {
	cfg      *config.Config
	keys     map[spec.ServerName]serverkey.Key
	users    userapi.API
	rooms    roomserver.API
	store    *storage.Store
	client   fclient.FederationClient
	keyRing  *gomatrixserverlib.KeyRing
	policy   *Policy
	verifier *Verifier
	queue    *Queue
	notary   *Notary
	// backfills serialises history fetches per room (backfill.go).
	backfills backfills
	txns      *inboundTxns
	openID    OpenIDTokens
	// ephemeral carries typing, receipts and presence (edu_ephemeral.go).
	ephemeral ephemeral
	// media is the media API, for federation media (media.go).
	media mediaapi.API
	// e2ee carries device lists and to-device messages (edu_e2ee.go).
	e2ee *e2ee
	// erased are the erased local users, whose events other servers get
	// redacted (visibility.go).
	erased    userapi.ErasedSet
	erasedSub *nats.Subscription
	bus       *bus.Conn
	// hierarchies are other servers' recent answers about spaces
	// (hierarchy.go).
	hierarchies *lru.Cache[hierarchyKey, cachedHierarchy]
}

var _ API = (*Server)(nil)

// New builds the federation API; Start begins sending.
func New(cfg *config.Config, deps Deps) (*Server, error) {
	if len(deps.Keys) == 0 {
		return nil, fmt.Errorf("federationapi: no signing keys")
	}
	s := &Server{cfg: cfg, keys: map[spec.ServerName]serverkey.Key{}, users: deps.Users, rooms: deps.Rooms, txns: newInboundTxns(), openID: deps.Users, media: deps.Media, bus: deps.Bus,
		hierarchies: lru.New[hierarchyKey, cachedHierarchy](remoteHierarchyCacheSize)}
	s.ephemeral = newEphemeral(deps.Bus)
	s.e2ee = newE2EE(s, deps.Bus)
	for _, k := range deps.Keys {
		s.keys[k.ServerName] = k
	}
	var err error
	if s.store, err = storage.Open(context.Background(), deps.DB); err != nil {
		return nil, fmt.Errorf("federationapi storage: %w", err)
	}
	if s.client, err = NewFederationClient(cfg, deps.Keys); err != nil {
		return nil, err
	}
	if s.policy, err = NewPolicy(cfg); err != nil {
		return nil, err
	}
	s.keyRing = NewKeyRing(s.store, s.client, cfg.TrustedKeyServers, s.isLocal, deps.Keys)
	s.verifier = NewVerifier(s.isLocal, cfg.ServerName, s.keyRing, s.policy)
	if s.notary, err = NewNotary(s.store, s.client, deps.Keys, s.policy); err != nil {
		return nil, err
	}
	s.queue, err = NewQueue(QueueConfig{OwnerID: restartOwnerID(cfg)}, QueueDeps{
		Store: s.store, Bus: deps.Bus, Rooms: deps.Rooms, Sender: s.client,
		IsLocal: s.isLocal, Allowed: s.policy.Allowed, Outbox: deps.Outbox,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Start begins sending queued events to other servers.
func (s *Server) Start(ctx context.Context) error {
	if err := s.queue.Start(ctx); err != nil {
		return err
	}
	if err := s.startE2EE(ctx); err != nil {
		return err
	}
	var err error
	if s.erasedSub, err = s.erased.Follow(ctx, s.bus, "federationapi", s.users.ErasedUsers); err != nil {
		return err
	}
	return s.startEphemeral(ctx)
}

// Stop ends sending; what is queued stays in the database.
func (s *Server) Stop() {
	s.stopEphemeral()
	s.stopE2EE()
	if s.erasedSub != nil {
		_ = s.erasedSub.Unsubscribe()
	}
	s.queue.Stop()
}

func (s *Server) isLocal(name spec.ServerName) bool {
	_, ok := s.keys[name]
	return ok
}

// Erased says whether the federation API has heard that user was
// erased: from then on, the user's events reach servers that did not see
// them redacted. The broadcast arrives shortly after the erasure.
func (s *Server) Erased(user string) bool {
	return s.erased.Contains(user)
}

// keyFor is the signing key of a local server name.
func (s *Server) keyFor(name spec.ServerName) (serverkey.Key, bool) {
	k, ok := s.keys[name]
	return k, ok
}

// Routes mounts the federation and key endpoints, in the spec's order.
func (s *Server) Routes(r *mux.Router) {
	r.Handle("/_matrix/key/v2/server", mxhttp.Handler(s.serverKeys)).Methods(http.MethodGet)
	r.Handle("/_matrix/key/v2/server/{keyId}", mxhttp.Handler(s.serverKeys)).Methods(http.MethodGet)
	s.notary.Routes(r)
	VersionRoutes(r)

	f := r.PathPrefix("/_matrix/federation").Subrouter()
	// A signed request shows its origin is up: sending to it resumes.
	signed := func(h func(*http.Request, spec.ServerName, []byte) (any, error)) http.Handler {
		return s.verifier.Handler(func(r *http.Request, origin spec.ServerName, body []byte) (any, error) {
			s.queue.PeerSeen(origin)
			return h(r, origin, body)
		})
	}
	f.Handle("/v1/send/{txnId}", signed(s.send)).Methods(http.MethodPut)
	f.Handle("/v1/event/{eventId}", signed(s.event)).Methods(http.MethodGet)
	f.Handle("/v1/state/{roomId}", signed(s.state)).Methods(http.MethodGet)
	f.Handle("/v1/state_ids/{roomId}", signed(s.stateIDs)).Methods(http.MethodGet)
	f.Handle("/v1/event_auth/{roomId}/{eventId}", signed(s.eventAuth)).Methods(http.MethodGet)
	f.Handle("/v1/backfill/{roomId}", signed(s.backfill)).Methods(http.MethodGet)
	f.Handle("/v1/get_missing_events/{roomId}", signed(s.missingEvents)).Methods(http.MethodPost)
	f.Handle("/v1/timestamp_to_event/{roomId}", signed(s.timestampToEvent)).Methods(http.MethodGet)
	f.Handle("/v1/make_join/{roomId}/{userId}", signed(s.makeJoin)).Methods(http.MethodGet)
	f.Handle("/v2/send_join/{roomId}/{eventId}", signed(s.sendJoin)).Methods(http.MethodPut)
	f.Handle("/v1/send_join/{roomId}/{eventId}", signed(s.sendJoinV1)).Methods(http.MethodPut)
	f.Handle("/v1/make_leave/{roomId}/{userId}", signed(s.makeLeave)).Methods(http.MethodGet)
	f.Handle("/v2/send_leave/{roomId}/{eventId}", signed(s.sendLeave)).Methods(http.MethodPut)
	f.Handle("/v1/send_leave/{roomId}/{eventId}", signed(s.sendLeaveV1)).Methods(http.MethodPut)
	f.Handle("/v1/make_knock/{roomId}/{userId}", signed(s.makeKnock)).Methods(http.MethodGet)
	f.Handle("/v1/send_knock/{roomId}/{eventId}", signed(s.sendKnock)).Methods(http.MethodPut)
	f.Handle("/v2/invite/{roomId}/{eventId}", signed(s.invite)).Methods(http.MethodPut)
	f.Handle("/v1/invite/{roomId}/{eventId}", signed(s.inviteV1)).Methods(http.MethodPut)
	f.Handle("/v1/publicRooms", signed(s.publicRooms)).Methods(http.MethodGet, http.MethodPost)
	f.Handle("/v1/hierarchy/{roomId}", signed(s.hierarchy)).Methods(http.MethodGet)
	f.Handle("/v1/query/directory", signed(s.queryDirectory)).Methods(http.MethodGet)
	f.Handle("/v1/query/profile", signed(s.queryProfile)).Methods(http.MethodGet)
	s.ephemeralRoutes(f)
	s.e2eeRoutes(f)
	s.mediaRoutes(f)
	f.Handle("/v1/openid/userinfo", mxhttp.Handler(s.openIDUserInfo)).Methods(http.MethodGet)
}
