package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
)

// Health endpoints, as docs/deploy.md describes them to orchestrators.
const (
	// ReadyPath answers 200 while this process can serve: its database
	// and NATS answer. Otherwise 503 with the reason.
	ReadyPath = "/health"
	// LivePath answers 200 while the process serves HTTP at all: restart
	// it only when this fails, not when a dependency is away.
	LivePath = "/health/live"
)

// readinessTimeout bounds each check, well under a health checker's own.
const readinessTimeout = 2 * time.Second

type healthAnswer struct {
	Status     string   `json:"status"`
	Components []string `json:"components"`
	Reason     string   `json:"reason,omitempty"`
}

// ready is the readiness check: New has returned (every component here
// started), and the database and NATS this process uses answer now. The
// gateway alone uses neither.
func (a *App) ready() http.Handler {
	comps := a.ComponentList()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ans := healthAnswer{Status: "ok", Components: comps}
		code := http.StatusOK
		if err := a.checkDependencies(r.Context()); err != nil {
			ans.Status, ans.Reason, code = "unavailable", err.Error(), http.StatusServiceUnavailable
		}
		writeHealth(w, code, ans)
	})
}

func (a *App) checkDependencies(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	if a.DB != nil {
		var one int
		if err := a.DB.Read.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
			return fmt.Errorf("database: %w", err)
		}
	}
	if a.Bus != nil {
		if s := a.Bus.NC.Status(); s != nats.CONNECTED {
			return fmt.Errorf("nats: connection %s", s)
		}
		// A round trip to JetStream, which holds the streams.
		if _, err := a.Bus.JS.AccountInfo(ctx); err != nil {
			return fmt.Errorf("nats: jetstream: %w", err)
		}
	}
	return nil
}

// live is the liveness check: it depends on nothing.
func (a *App) live() http.Handler {
	comps := a.ComponentList()
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeHealth(w, http.StatusOK, healthAnswer{Status: "alive", Components: comps})
	})
}

func writeHealth(w http.ResponseWriter, code int, ans healthAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(ans)
}
