package app

import (
	"context"
	"fmt"

	"github.com/gorilla/mux"

	"github.com/rohrpost/rohrpost/bundesmessenger"
)

// AdminResource is the listener resource that serves the admin API on a
// listener of its own (docs/decisions/0020): once some listener names
// it, the client listeners no longer serve /_synapse/admin, so operators
// can keep the admin API off the internet.
const AdminResource = "admin"

// startBundesMessenger builds the BundesMessenger apps' endpoints where
// the client API runs; the maintenance document they share with the
// admin API lives in the database, so every process serves the same one.
func (a *App) startBundesMessenger(ctx context.Context) (*bundesmessenger.Maintenance, error) {
	m, err := bundesmessenger.NewMaintenance(ctx, a.Config, a.DB)
	if err != nil {
		return nil, err
	}
	if a.BundesMessenger, err = bundesmessenger.New(ctx, a.Config, m); err != nil {
		return nil, fmt.Errorf("bundesmessenger: %w", err)
	}
	return m, nil
}

// adminApart tells whether a listener serves the admin API on its own.
func (a *App) adminApart() bool {
	for _, l := range a.Config.Listeners {
		if l.HasResource(AdminResource) {
			return true
		}
	}
	return false
}

// adminRoutes mounts the admin API if this handler's resources include
// it: "admin" where a listener names it, else with "client".
func (a *App) adminRoutes(r *mux.Router, all bool, want map[string]bool) {
	if a.Admin == nil {
		return
	}
	if want[AdminResource] || (!a.adminApart() && (all || want["client"])) {
		a.Admin.Routes(r)
	}
}
