package main

import (
	"reflect"
	"testing"

	"github.com/rohrpost/rohrpost/config"
)

func TestComponentResources(t *testing.T) {
	tests := []struct {
		name      string
		resources []string
		want      []string
	}{
		{"API listener: every route of the components", []string{"client", "federation"}, nil},
		{"metrics only: no API", []string{"metrics"}, []string{"metrics"}},
		{"both", []string{"client", "metrics"}, []string{"client", "federation", "media", "keys", "metrics"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := componentResources(config.Listener{Resources: tc.resources}); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("componentResources(%v) = %v, want %v", tc.resources, got, tc.want)
			}
		})
	}
}

func TestOverrideMetricsListener(t *testing.T) {
	api := config.Listener{BindAddress: "0.0.0.0", Port: 8008, Resources: []string{"client", "metrics"}}
	tests := []struct {
		name      string
		listeners []config.Listener
		addr      string
		want      []config.Listener
		wantErr   bool
	}{
		{"moves the metrics-only listener", []config.Listener{api, {BindAddress: "0.0.0.0", Port: 9000, Resources: []string{"metrics"}}}, "127.0.0.1:9015",
			[]config.Listener{api, {BindAddress: "127.0.0.1", Port: 9015, Resources: []string{"metrics"}}}, false},
		{"adds one, leaving an API listener that also lists metrics", []config.Listener{api}, "127.0.0.1:9015",
			[]config.Listener{api, {BindAddress: "127.0.0.1", Port: 9015, Resources: []string{"metrics"}}}, false},
		{"no port", []config.Listener{api}, "127.0.0.1", nil, true},
		{"bad port", []config.Listener{api}, "127.0.0.1:http", nil, true},
		{"port out of range", []config.Listener{api}, "127.0.0.1:70000", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Listeners: append([]config.Listener(nil), tc.listeners...)}
			err := overrideMetricsListener(cfg, tc.addr)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted %q", tc.addr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Listeners, tc.want) {
				t.Fatalf("listeners = %+v, want %+v", cfg.Listeners, tc.want)
			}
		})
	}
}
