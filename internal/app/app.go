package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rohrpost/rohrpost/adminapi"
	"github.com/rohrpost/rohrpost/bundesmessenger"
	"github.com/rohrpost/rohrpost/clientapi"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/gateway"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/metrics"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/retention"
	"github.com/rohrpost/rohrpost/internal/rpc"
	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/mediaapi"
	"github.com/rohrpost/rohrpost/memberactions"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/syncapi"
	"github.com/rohrpost/rohrpost/userapi"
)

// Component names, for --components.
const (
	RoomServer    = "roomserver"
	UserAPI       = "userapi"
	SyncAPI       = "syncapi"
	ClientAPI     = "clientapi"
	FederationAPI = "federationapi"
	MediaAPI      = "mediaapi"
	Gateway       = "gateway"
)

// Monolith is what runs when no components are named: everything but the
// gateway, which only separate services need.
var Monolith = []string{RoomServer, UserAPI, SyncAPI, ClientAPI, FederationAPI, MediaAPI}

// Options choose what runs in this process.
type Options struct {
	// Components to run here; empty means Monolith.
	Components []string
	// OverBus makes the components of this process call each other over
	// NATS request/reply, as separate services do. Tests use it to run
	// every component's API both ways.
	OverBus bool
	// AccessLog gets one line per HTTP request; nil logs none.
	AccessLog *slog.Logger
}

// ParseComponents checks a --components list.
func ParseComponents(list string) ([]string, error) {
	known := map[string]bool{Gateway: true}
	for _, c := range Monolith {
		known[c] = true
	}
	var out []string
	for _, c := range strings.Split(list, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !known[c] {
			return nil, fmt.Errorf("unknown component %q (known: %s, %s)", c, strings.Join(Monolith, ", "), Gateway)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no components named")
	}
	return out, nil
}

// App is a running rohrpost: the components this process runs, and
// clients of the others.
type App struct {
	Config     *config.Config
	DB         *sqlutil.DB
	Bus        *bus.Conn
	Keys       []serverkey.Key
	Components map[string]bool

	// Users and Rooms are the APIs: the local server or a client of a
	// remote one.
	Users      userapi.API
	Rooms      roomserver.API
	Federation federationapi.API

	// The components running here; nil when they run elsewhere.
	LocalUsers *userapi.Server
	LocalRooms *roomserver.Server
	Sync       *syncapi.Server
	Fed        *federationapi.Server
	CS         *clientapi.Server
	Admin      *adminapi.Server
	Media      *mediaapi.Server
	Gateway    *gateway.Gateway

	// BundesMessenger serves the apps' own endpoints (bundesmessenger.go).
	BundesMessenger *bundesmessenger.Server
	// memberActions accepts invites and forgets left rooms for users
	// (member_actions.go); nil when the config asks for neither.
	memberActions *memberactions.Actions

	// Retention runs the retention jobs of the components here
	// (retention.go); nil when none is switched on.
	Retention     *retention.Scheduler
	RetentionJobs []retention.Job

	served    []*rpc.Server
	accessLog *slog.Logger

	// Metrics is this process's Prometheus registry (metrics.go).
	Metrics *prometheus.Registry
	http    *metrics.HTTP

	// Stopping is cancelled when the app begins to stop, so long polls end.
	Stopping context.Context
	stop     context.CancelFunc
}

// New connects storage and the bus and starts this process's components.
// cfg must have been Finish()ed.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *App, err error) {
	comps := opts.Components
	if len(comps) == 0 {
		comps = Monolith
	}
	a := &App{Config: cfg, Components: map[string]bool{}, accessLog: opts.AccessLog}
	for _, c := range comps {
		a.Components[c] = true
	}
	// Components in one process call each other directly unless told
	// otherwise; a process without some component reaches it over NATS.
	overBus := opts.OverBus
	a.Stopping, a.stop = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.Components[Gateway] {
		if a.Gateway, err = gateway.New(cfg.Gateway); err != nil {
			return nil, err
		}
	}
	if a.onlyGateway() {
		return a, a.registerMetrics()
	}
	key, err := serverkey.LoadOrCreate(cfg.SigningKeyPath, cfg.ServerName)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	a.Keys = []serverkey.Key{key}
	a.DB, err = sqlutil.Open(sqlutil.Options{Type: cfg.Database.Type, Path: cfg.Database.Path, URI: cfg.Database.URI, MaxOpenConns: cfg.Database.MaxOpenConns})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	a.Bus, err = bus.Connect(ctx, bus.Options{Addresses: cfg.NATS.Addresses, StoreDir: cfg.NATS.StoreDir, Replicas: cfg.NATS.Replicas})
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}

	a.Users = userapi.NewClient(a.Bus)
	if a.Components[UserAPI] {
		if a.LocalUsers, err = userapi.New(cfg, a.DB, a.Bus); err != nil {
			return nil, fmt.Errorf("userapi: %w", err)
		}
		if err := a.serve(userapi.Serve(a.Bus.NC, a.LocalUsers)); err != nil {
			return nil, err
		}
		if !overBus {
			a.Users = a.LocalUsers
		}
	}
	a.Rooms = roomserver.NewClient(a.Bus.NC)
	// The roomserver queues our events for other servers in the commit
	// that stores them (decision 0011); a federation API in this process
	// sends them as soon as that commits.
	var outbox *federationapi.Outbox
	if a.Components[RoomServer] {
		if outbox, err = federationapi.NewOutbox(cfg, a.DB, a.Keys); err != nil {
			return nil, err
		}
		if a.LocalRooms, err = roomserver.New(cfg, roomserver.Deps{DB: a.DB, Bus: a.Bus, Keys: a.Keys, Outbox: outbox}); err != nil {
			return nil, err
		}
		if err := a.LocalRooms.Start(ctx); err != nil {
			return nil, err
		}
		if err := a.serve(roomserver.Serve(a.Bus.NC, a.LocalRooms)); err != nil {
			return nil, err
		}
		if !overBus {
			a.Rooms = a.LocalRooms
		}
	}
	// The media API fetches other servers' media through the federation
	// transport and policy; the federation API serves ours through it.
	var media mediaapi.API = mediaapi.NewClient(a.Bus.NC)
	if a.Components[MediaAPI] {
		fetcher, err := federationapi.NewMediaFetcher(cfg, a.Keys)
		if err != nil {
			return nil, fmt.Errorf("mediaapi: %w", err)
		}
		if a.Media, err = mediaapi.New(ctx, cfg, mediaapi.Deps{DB: a.DB, Users: a.Users, Bus: a.Bus, Remote: fetcher}); err != nil {
			return nil, err
		}
		if err := a.serve(mediaapi.Serve(a.Bus.NC, a.Media)); err != nil {
			return nil, err
		}
		if !overBus {
			media = a.Media
		}
	}
	a.Federation = federationapi.NewClient(a.Bus.NC)
	if a.Components[FederationAPI] {
		if a.Fed, err = federationapi.New(cfg, federationapi.Deps{DB: a.DB, Bus: a.Bus, Keys: a.Keys, Users: a.Users, Rooms: a.Rooms, Media: media, Outbox: outbox}); err != nil {
			return nil, fmt.Errorf("federationapi: %w", err)
		}
		if err := a.Fed.Start(ctx); err != nil {
			return nil, err
		}
		if err := a.serve(federationapi.Serve(a.Bus.NC, a.Fed)); err != nil {
			return nil, err
		}
		if !overBus {
			a.Federation = a.Fed
		}
	}
	if a.Components[SyncAPI] {
		if a.Sync, err = syncapi.New(cfg, syncapi.Deps{DB: a.DB, Bus: a.Bus, Users: a.Users, Rooms: a.Rooms, History: a.Federation, RemoteToDevice: a.Federation}); err != nil {
			return nil, err
		}
		if err := a.Sync.Start(ctx); err != nil {
			return nil, err
		}
	}
	if a.Components[ClientAPI] {
		// The client API reads room state at past events from the shared
		// room tables (docs/decisions/0001).
		roomStore, err := rsstorage.OpenReader(ctx, a.DB)
		if err != nil {
			return nil, fmt.Errorf("clientapi room store: %w", err)
		}
		onProfile, onDeactivate := profileHooks(a.Rooms)
		if a.CS, err = clientapi.New(cfg, clientapi.Deps{Users: a.Users, Rooms: a.Rooms, Federation: a.Federation, Bus: a.Bus, RoomStore: roomStore, OnProfileChange: onProfile, OnDeactivate: onDeactivate, DB: a.DB}); err != nil {
			return nil, err
		}
		if err := a.CS.Start(ctx); err != nil {
			return nil, fmt.Errorf("clientapi: %w", err)
		}
		maintenance, err := a.startBundesMessenger(ctx)
		if err != nil {
			return nil, err
		}
		// The Synapse admin API runs where the client API does (decision 0020).
		if a.Admin, err = adminapi.New(ctx, cfg, adminapi.Deps{Users: a.Users, Rooms: a.Rooms, Federation: a.Federation, Media: media, DB: a.DB, OnProfileChange: onProfile, OnDeactivate: onDeactivate, Maintenance: maintenance}); err != nil {
			return nil, err
		}
		a.CS.SetRoomBlocked(a.Admin.RoomBlocked)
		if err := a.startMemberActions(ctx); err != nil {
			return nil, err
		}
	}
	if err := a.startRetention(ctx); err != nil {
		return nil, err
	}
	return a, a.registerMetrics()
}

func (a *App) onlyGateway() bool {
	return len(a.Components) == 1 && a.Components[Gateway]
}

// serve keeps a component's NATS endpoint for Close.
func (a *App) serve(s *rpc.Server, err error) error {
	if err != nil {
		return err
	}
	a.served = append(a.served, s)
	return nil
}

// Handler serves the named resources ("client", "federation", "media",
// "keys"), none meaning all, from the components running here, and
// the health checks (health.go). "metrics" adds the Prometheus metrics
// (metrics.go); only "metrics" serves them without any API.
func (a *App) Handler(resources ...string) http.Handler {
	h := a.routes(resources...)
	if a.accessLog != nil {
		h = withAccessLog(a.accessLog, h)
	}
	return h
}

func (a *App) routes(resources ...string) http.Handler {
	want := map[string]bool{}
	for _, r := range resources {
		want[r] = true
	}
	all := len(resources) == 0
	r := mxhttp.NewRouter()
	r.Handle(ReadyPath, a.ready()).Methods(http.MethodGet)
	r.Handle(LivePath, a.live()).Methods(http.MethodGet)
	if want[MetricsResource] {
		a.metricsRoutes(r)
	}
	if a.Gateway != nil {
		r.PathPrefix("/").Handler(a.Gateway)
		return withCORS(a.http.Wrap(r))
	}
	trusted := a.Config.TrustedProxyPrefixes()
	if all || want["client"] {
		// The sync API's routes are the more specific ones; they go first.
		if a.Sync != nil {
			a.Sync.Routes(r)
		}
		if a.CS != nil {
			a.CS.Routes(r)
		}
		if a.BundesMessenger != nil {
			a.BundesMessenger.Routes(r)
		}
	}
	a.adminRoutes(r, all, want)
	if (all || want["federation"] || want["keys"]) && a.Fed != nil {
		a.Fed.Routes(r)
	}
	if (all || want["media"]) && a.Media != nil {
		a.Media.Routes(r)
	}
	return withCORS(withRealIP(trusted, a.http.Wrap(r)))
}

// ComponentList names the components running here.
func (a *App) ComponentList() []string {
	comps := make([]string, 0, len(a.Components))
	for c := range a.Components {
		comps = append(comps, c)
	}
	sort.Strings(comps)
	return comps
}

// EndRequests cancels the context of every request, ending long polls.
func (a *App) EndRequests() { a.stop() }

// Close stops the components and releases storage and the bus.
func (a *App) Close() {
	if a.stop != nil {
		a.stop()
	}
	if a.Retention != nil {
		a.Retention.Stop()
	}
	for _, s := range a.served {
		_ = s.Stop()
	}
	a.memberActions.Stop()
	if a.CS != nil {
		a.CS.Stop()
	}
	if a.Sync != nil {
		a.Sync.Stop()
	}
	if a.Media != nil {
		a.Media.Stop()
	}
	if a.Fed != nil {
		a.Fed.Stop()
	}
	if a.LocalRooms != nil {
		a.LocalRooms.Stop()
	}
	if a.LocalUsers != nil {
		a.LocalUsers.Stop()
	}
	if a.Bus != nil {
		a.Bus.Close()
	}
	if a.DB != nil {
		_ = a.DB.Close()
	}
}

// withCORS lets browser clients (Element Web) call the API from any
// origin, as the spec requires.
func withCORS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		h.ServeHTTP(w, r)
	})
}
