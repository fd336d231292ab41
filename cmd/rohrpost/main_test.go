package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/app"
)

func TestCommandLineErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown component", []string{"--components", "roomserver,mediaapi2"}, "unknown component"},
		{"empty component list", []string{"--components", ","}, "no components"},
		{"bad listen address", []string{"--listen", "nonsense"}, "--listen"},
		{"bad listen port", []string{"--listen", "127.0.0.1:99999"}, "--listen"},
		{"stray argument", []string{"--components", "gateway", "extra"}, "unexpected arguments"},
		{"health without url", []string{"health"}, "usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, strings.NewReader(""), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer bad.Close()
	if err := health([]string{ok.URL}); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if err := health([]string{bad.URL}); err == nil {
		t.Error("503 counted as healthy")
	}
	if err := health([]string{"http://127.0.0.1:1/health"}); err == nil {
		t.Error("nothing listening counted as healthy")
	}
}

func TestOverrideListener(t *testing.T) {
	cfg := config.Default()
	if err := overrideListener(cfg, "0.0.0.0:9000"); err != nil {
		t.Fatal(err)
	}
	if l := cfg.Listeners[0]; l.BindAddress != "0.0.0.0" || l.Port != 9000 || len(l.Resources) == 0 {
		t.Fatalf("listener %+v", l)
	}
}

func TestListenerResources(t *testing.T) {
	l := config.Listener{Resources: []string{"client", "federation"}}
	if got := listenerResources(app.Options{}, l); len(got) != 2 {
		t.Fatalf("one process serves %v, want the listener's resources", got)
	}
	if got := listenerResources(app.Options{Components: []string{app.MediaAPI}}, l); got != nil {
		t.Fatalf("--components mediaapi serves %v, want every route of its components (nil)", got)
	}
}
