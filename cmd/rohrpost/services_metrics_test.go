package main

import (
	"context"
	"fmt"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/metrics/metricstest"
)

// TestServicesMetrics: in a deployment of separate processes each
// process serves its own metrics on its own port (services.sh passes
// --metrics-listen, 10 above the process's API port), naming the
// component it runs, and each reports what happens in it: the gateway
// and a client API the send, the roomserver the events it persisted,
// the sync API its consumer of the room events.
func TestServicesMetrics(t *testing.T) {
	d := startDeployment(t)
	ctx := context.Background()
	alice := apptest.RegisterAt(t, d.url(0), "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "Messwerte"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SyncRequest(ctx, 0, "", "", false, ""); err != nil {
		t.Fatal(err)
	}

	const sendRoute = "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"
	send := map[string]string{"route": sendRoute, "method": "PUT", "code": "200"}
	scrapes := map[string]metricstest.Families{}
	for _, p := range []struct {
		name, component string
		offset          int
	}{
		{"gateway", "gateway", 0}, {"roomserver", "roomserver", 1}, {"userapi", "userapi", 2},
		{"syncapi-1", "syncapi", 3}, {"syncapi-2", "syncapi", 4}, {"clientapi-1", "clientapi", 5},
		{"clientapi-2", "clientapi", 6}, {"federationapi", "federationapi", 7}, {"mediaapi", "mediaapi", 8},
	} {
		fams := metricstest.Scrape(t, fmt.Sprintf("%s/_synapse/metrics", d.url(p.offset+10)))
		scrapes[p.name] = fams
		t.Run(p.name, func(t *testing.T) {
			if n := fams.Value("rohrpost_components", map[string]string{"component": p.component}); n != 1 {
				t.Errorf("rohrpost_components{component=%q} = %v, want 1", p.component, n)
			}
			if missing := fams.Missing("go_goroutines", "process_resident_memory_bytes", "rohrpost_http_requests_total"); len(missing) > 0 {
				t.Errorf("missing %v", missing)
			}
			if p.component != "gateway" {
				if _, found := fams.Sum("go_sql_open_connections", map[string]string{"db_name": "postgres"}); !found {
					t.Error("no PostgreSQL pool metrics")
				}
			}
		})
	}
	if n := scrapes["gateway"].Value("rohrpost_http_requests_total", send); n < 1 {
		t.Errorf("the gateway counted %v sends", n)
	}
	if n := scrapes["clientapi-1"].Value("rohrpost_http_requests_total", send) + scrapes["clientapi-2"].Value("rohrpost_http_requests_total", send); n < 1 {
		t.Errorf("the client APIs counted %v sends", n)
	}
	if n := scrapes["roomserver"].Value("rohrpost_roomserver_events_persisted_total", nil); n < 1 {
		t.Errorf("the roomserver persisted %v events", n)
	}
	for _, name := range []string{"syncapi-1", "syncapi-2"} {
		if _, found := scrapes[name].Sum("rohrpost_nats_consumer_pending_messages", map[string]string{"stream": "ROOM_EVENTS", "consumer": "ordered"}); !found {
			t.Errorf("%s reports no lag of its room event consumer", name)
		}
		if missing := scrapes[name].Missing("rohrpost_sync_waiting_requests"); len(missing) > 0 {
			t.Errorf("%s: missing %v", name, missing)
		}
	}
	if missing := scrapes["federationapi"].Missing("rohrpost_federation_queue_pending", "rohrpost_federation_queue_destinations_backing_off"); len(missing) > 0 {
		t.Errorf("federationapi: missing %v", missing)
	}
	if missing := scrapes["mediaapi"].Missing("rohrpost_media_scans_total"); len(missing) > 0 {
		t.Errorf("mediaapi: missing %v", missing)
	}
	// A component reports only its own: the roomserver's input loop is
	// nowhere else.
	if missing := scrapes["clientapi-1"].Missing("rohrpost_roomserver_events_persisted_total"); len(missing) == 0 {
		t.Error("clientapi-1 reports the roomserver's events persisted")
	}
}
