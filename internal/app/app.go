package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/clientapi"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/syncapi"
	"github.com/rohrpost/rohrpost/userapi"
)

// App is a running rohrpost with every component in this process.
type App struct {
	Config *config.Config
	DB     *sqlutil.DB
	Bus    *bus.Conn
	Keys   []serverkey.Key

	Users *userapi.Server
	Rooms *roomserver.Server
	Sync  *syncapi.Server
	Fed   *federationapi.Server
	CS    *clientapi.Server

	// Stopping is cancelled when the app begins to stop, so long polls end.
	Stopping context.Context
	stop     context.CancelFunc
}

// New opens storage and the bus and starts every component. cfg must have
// been Finish()ed.
func New(ctx context.Context, cfg *config.Config) (_ *App, err error) {
	a := &App{Config: cfg}
	a.Stopping, a.stop = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	key, err := serverkey.LoadOrCreate(cfg.SigningKeyPath, cfg.ServerName)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	a.Keys = []serverkey.Key{key}
	a.DB, err = sqlutil.Open(sqlutil.Options{Type: cfg.Database.Type, Path: cfg.Database.Path, URI: cfg.Database.URI, MaxOpenConns: cfg.Database.MaxOpenConns})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	a.Bus, err = bus.Connect(ctx, bus.Options{Addresses: cfg.NATS.Addresses, StoreDir: cfg.NATS.StoreDir})
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	if a.Users, err = userapi.New(cfg, a.DB); err != nil {
		return nil, fmt.Errorf("userapi: %w", err)
	}
	if a.Rooms, err = roomserver.New(cfg, roomserver.Deps{DB: a.DB, Bus: a.Bus, Keys: a.Keys}); err != nil {
		return nil, err
	}
	if err := a.Rooms.Start(ctx); err != nil {
		return nil, err
	}
	users := &notifyingUsers{API: a.Users}
	if a.Sync, err = syncapi.New(cfg, syncapi.Deps{DB: a.DB, Bus: a.Bus, Users: users, Rooms: a.Rooms}); err != nil {
		return nil, err
	}
	users.sync = a.Sync
	if err := a.Sync.Start(ctx); err != nil {
		return nil, err
	}
	if a.Fed, err = federationapi.New(a.Keys, a.Users); err != nil {
		return nil, err
	}
	onProfile, onDeactivate := profileHooks(a.Rooms)
	if a.CS, err = clientapi.New(cfg, clientapi.Deps{Users: users, Rooms: a.Rooms, RoomStore: a.Rooms.Store(), OnProfileChange: onProfile, OnDeactivate: onDeactivate}); err != nil {
		return nil, err
	}
	return a, nil
}

// Handler serves the named resources ("client", "federation", "media",
// "keys"); none means all.
func (a *App) Handler(resources ...string) http.Handler {
	want := map[string]bool{}
	for _, r := range resources {
		want[r] = true
	}
	all := len(resources) == 0
	r := mux.NewRouter()
	r.NotFoundHandler = mxhttp.Handler(func(*http.Request) (any, error) { return nil, mxhttp.Unrecognized(http.StatusNotFound) })
	r.MethodNotAllowedHandler = mxhttp.Handler(func(*http.Request) (any, error) {
		return nil, mxhttp.Unrecognized(http.StatusMethodNotAllowed)
	})
	if all || want["client"] {
		a.CS.Routes(r)
		a.Sync.Routes(r)
	}
	if all || want["federation"] || want["keys"] {
		a.Fed.Routes(r)
	}
	return withCORS(r)
}

// EndRequests cancels the context of every request, ending long polls.
func (a *App) EndRequests() { a.stop() }

// Close stops the components and releases storage and the bus.
func (a *App) Close() {
	if a.stop != nil {
		a.stop()
	}
	if a.Sync != nil {
		a.Sync.Stop()
	}
	if a.Rooms != nil {
		a.Rooms.Stop()
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
