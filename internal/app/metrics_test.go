package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/rohrpost/rohrpost/internal/app"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/metrics/metricstest"
)

const sendRoute = "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"

// TestMetricsScrapedAndParsed: a metrics listener serves the process's
// registry at Synapse's path and at /metrics in Prometheus' text format;
// registering, sending and syncing move the request counters (labelled
// by route template, never the raw path), the events persisted and the
// sync waiters; the API listener does not serve the metrics and the
// metrics listener no API.
func TestMetricsScrapedAndParsed(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	metricsSrv := httptest.NewServer(srv.App.Handler("metrics"))
	defer metricsSrv.Close()
	ctx := context.Background()

	before := metricstest.Scrape(t, metricsSrv.URL+"/_synapse/metrics")
	sendsBefore, _ := before.Sum("rohrpost_http_requests_total", map[string]string{"route": sendRoute, "method": "PUT", "code": "200"})
	persistedBefore, _ := before.Sum("rohrpost_roomserver_events_persisted_total", nil)

	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	const sends = 3
	for i := range sends {
		if _, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "Lagebericht " + string(rune('A'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := alice.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}

	// A long poll parked on this process shows as a sync waiter until an
	// event wakes it.
	woken := make(chan error, 1)
	go func() {
		_, err := alice.SyncRequest(ctx, 30000, first.NextBatch, "", false, "")
		woken <- err
	}()
	awaitMetric(t, "a parked /sync", func() bool {
		n, _ := metricstest.Scrape(t, metricsSrv.URL+"/metrics").Sum("rohrpost_sync_waiting_requests", nil)
		return n >= 1
	})
	if _, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "wake up"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woken:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the parked /sync was not woken")
	}

	after := metricstest.Scrape(t, metricsSrv.URL+"/_synapse/metrics")
	if missing := after.Missing(
		"rohrpost_http_requests_total", "rohrpost_http_request_duration_seconds", "rohrpost_http_requests_in_flight",
		"rohrpost_roomserver_input_queue_depth", "rohrpost_roomserver_input_batch_tasks", "rohrpost_roomserver_input_batch_events",
		"rohrpost_roomserver_events_persisted_total", "rohrpost_sync_waiting_requests", "rohrpost_nats_consumer_pending_messages",
		"rohrpost_media_scans_total", "rohrpost_federation_queue_pending", "rohrpost_federation_queue_destinations_backing_off",
		"rohrpost_components", "rohrpost_db_group_commits_total", "rohrpost_db_group_commit_writers", "rohrpost_db_group_commit_duration_seconds", "go_sql_open_connections", "go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total",
	); len(missing) > 0 {
		t.Errorf("metric families missing: %v", missing)
	}
	if got, _ := after.Sum("rohrpost_http_requests_total", map[string]string{"route": sendRoute, "method": "PUT", "code": "200"}); got-sendsBefore < sends+1 {
		t.Errorf("send requests counted: %v, want at least %d more than %v", got, sends+1, sendsBefore)
	}
	if n, _ := after.Sum("rohrpost_http_request_duration_seconds", map[string]string{"route": sendRoute, "method": "PUT"}); n < sends {
		t.Errorf("send latencies observed: %v, want at least %d", n, sends)
	}
	if persisted, _ := after.Sum("rohrpost_roomserver_events_persisted_total", nil); persisted-persistedBefore < sends+1 {
		t.Errorf("events persisted: %v, want at least %d more than %v", persisted, sends+1, persistedBefore)
	}
	if n, _ := after.Sum("rohrpost_roomserver_input_batch_tasks", nil); n == 0 {
		t.Error("no input batch observed")
	}
	if n, _ := after.Sum("rohrpost_sync_waiting_requests", nil); n != 0 {
		t.Errorf("sync waiters after the wake: %v, want 0", n)
	}
	if _, found := after.Sum("rohrpost_nats_consumer_pending_messages", map[string]string{"stream": "ROOM_EVENTS", "consumer": "ordered"}); !found {
		t.Error("no lag reported for the sync API's room event consumer")
	}
	if n, _ := after.Sum("rohrpost_components", map[string]string{"component": "roomserver"}); n != 1 {
		t.Errorf("rohrpost_components{component=roomserver} = %v, want 1", n)
	}
	// Raw paths never become labels: no room id in any route.
	for _, m := range after["rohrpost_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), room.RoomID.String()) {
				t.Errorf("a raw path became a label: %q", l.GetValue())
			}
		}
	}
	if n, _ := after.Sum("rohrpost_db_group_commit_duration_seconds", nil); n < sends {
		t.Errorf("group commits timed: %v, want at least one per send", n)
	}
	if n, _ := after.Sum("go_sql_open_connections", nil); n < 1 {
		t.Errorf("go_sql_open_connections = %v, want the pool in use", n)
	}

	// Each listener serves what it lists.
	for _, tc := range []struct {
		name, url string
		want      int
	}{
		{"API listener hides the metrics", srv.URL + "/_synapse/metrics", http.StatusNotFound},
		{"API listener hides /metrics", srv.URL + "/metrics", http.StatusNotFound},
		{"metrics listener serves no API", metricsSrv.URL + "/_matrix/client/versions", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("GET %s = %d, want %d", tc.url, resp.StatusCode, tc.want)
			}
		})
	}
}

// TestMetricsPerServer: two servers in one test binary report their own
// numbers (a registry per process, not the global one).
func TestMetricsPerServer(t *testing.T) {
	t.Parallel()
	busy, idle := apptest.Start(t), apptest.Start(t)
	alice := busy.Register(t, "alice")
	if _, err := alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{}); err != nil {
		t.Fatal(err)
	}
	busyM := httptest.NewServer(busy.App.Handler("metrics"))
	defer busyM.Close()
	idleM := httptest.NewServer(idle.App.Handler("metrics"))
	defer idleM.Close()
	if n, _ := metricstest.Scrape(t, busyM.URL+"/metrics").Sum("rohrpost_roomserver_events_persisted_total", nil); n == 0 {
		t.Error("the busy server persisted no events")
	}
	if n, _ := metricstest.Scrape(t, idleM.URL+"/metrics").Sum("rohrpost_roomserver_events_persisted_total", nil); n != 0 {
		t.Errorf("the idle server reports %v events persisted: the registries are shared", n)
	}
}

func awaitMetric(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetricsScrapesLoggedAtDebug: Prometheus scrapes every few seconds;
// like health checks, its requests go to the access log at debug level,
// other requests at info.
func TestMetricsScrapesLoggedAtDebug(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	a, err := app.New(context.Background(), apptest.Config(t.TempDir()), app.Options{
		AccessLog: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler("client", "metrics"))
	defer srv.Close()
	metricstest.Scrape(t, srv.URL+"/_synapse/metrics")
	metricstest.Scrape(t, srv.URL+"/metrics")
	if resp, err := http.Get(srv.URL + "/_matrix/client/versions"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	levels := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var line struct{ Level, Msg, Path string }
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "request" {
			levels[line.Path] = line.Level
		}
	}
	for path, want := range map[string]string{"/_synapse/metrics": "DEBUG", "/metrics": "DEBUG", "/_matrix/client/versions": "INFO"} {
		if levels[path] != want {
			t.Errorf("access log level of %s = %q, want %s (all: %v)", path, levels[path], want, levels)
		}
	}
}
