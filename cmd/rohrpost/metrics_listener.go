package main

import (
	"fmt"
	"net"
	"strconv"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/app"
)

// componentResources is what a listener of a process started with
// --components serves: every route of its components (none named means
// all), plus the metrics when the listener lists them; a listener that
// lists only the metrics serves only them, never the APIs.
func componentResources(l config.Listener) []string {
	if !l.HasResource(app.MetricsResource) {
		return nil
	}
	if len(l.Resources) == 1 {
		return l.Resources
	}
	return []string{"client", "federation", "media", "keys", app.MetricsResource}
}

// overrideMetricsListener points the first listener that serves only
// the metrics at addr, or adds one: separate services on one host share a
// config file and need a port each, as --listen gives their APIs.
func overrideMetricsListener(cfg *config.Config, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("--metrics-listen: %q is not a port", port)
	}
	for i, l := range cfg.Listeners {
		if len(l.Resources) == 1 && l.HasResource(app.MetricsResource) {
			cfg.Listeners[i].BindAddress, cfg.Listeners[i].Port = host, p
			return nil
		}
	}
	cfg.Listeners = append(cfg.Listeners, config.Listener{BindAddress: host, Port: p, Resources: []string{app.MetricsResource}})
	return nil
}
