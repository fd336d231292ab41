package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/roomserver"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Benchmarks of federation between two servers on loopback (TLS, real
// signing and verification). Run with
//
//	go test ./internal/app -run '^$' -bench Federation -benchtime 1x
//
// and compare BenchmarkFederationDelivery with BenchmarkLocalDelivery: a
// federated message should cost no more than twice a local one.

// deliveryLatency sends n messages from sender and measures, for each,
// the time until receiver's long-polling /sync returns it.
func deliveryLatency(b *testing.B, sender, receiver *mautrix.Client, room id.RoomID, n int) []time.Duration {
	b.Helper()
	ctx := context.Background()
	resp, err := receiver.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		b.Fatal(err)
	}
	since := resp.NextBatch
	var lat []time.Duration
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("latency %d", i)
		start := time.Now()
		if _, err := sender.SendText(ctx, room, body); err != nil {
			b.Fatal(err)
		}
		for found := false; !found; {
			resp, err := receiver.SyncRequest(ctx, 10000, since, "", false, "")
			if err != nil {
				b.Fatal(err)
			}
			since = resp.NextBatch
			if jr, ok := resp.Rooms.Join[room]; ok {
				for _, ev := range jr.Timeline.Events {
					if ev.Type == event.EventMessage && ev.Content.Raw["body"] == body {
						found = true
					}
				}
			}
		}
		lat = append(lat, time.Since(start))
	}
	return lat
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLocalDelivery is the baseline: both users on one server.
func BenchmarkLocalDelivery(b *testing.B) {
	hs := apptest.StartFederation(b, 1)[0]
	ctx := context.Background()
	alice, bob := hs.Register(b, "alice"), hs.Register(b, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	reportLatency(b, deliveryLatency(b, alice, bob, created.RoomID, 200*b.N))
}

// BenchmarkFederationDelivery: the sender on one server, the receiver on
// another; from the sender's PUT to the receiver's /sync.
func BenchmarkFederationDelivery(b *testing.B) {
	servers := apptest.StartFederation(b, 2)
	ctx := context.Background()
	alice, bob := servers[0].Register(b, "alice"), servers[1].Register(b, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(servers[0].ServerName)}}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	reportLatency(b, deliveryLatency(b, alice, bob, created.RoomID, 200*b.N))
}

// BenchmarkFederationInboundTransactions: a peer sends full transactions
// (50 PDUs, each building on the one before); PDUs/s accepted.
func BenchmarkFederationInboundTransactions(b *testing.B) {
	servers := apptest.StartFederation(b, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob := hs1.Register(b, "alice"), hs2.Register(b, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		b.Fatal(err)
	}
	roomID := created.RoomID.String()
	// Chain the PDUs ourselves from hs1's extremities; hs2's own sending
	// stays out of the measurement.
	raw, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": "x"})
	tmpl, err := hs1.App.Rooms.EventTemplate(ctx, roomserver.TemplateRequest{RoomID: roomID, Sender: bob.UserID.String(), Type: "m.room.message", Content: raw})
	if err != nil {
		b.Fatal(err)
	}
	verImpl, _ := gomatrixserverlib.GetRoomVersion(tmpl.Event.Version())
	key := hs2.App.Keys[0]
	prev, depth := tmpl.Event.PrevEventIDs(), tmpl.Event.Depth()
	const perTxn = 50
	total := perTxn * 20 * b.N
	pdus := make([]gomatrixserverlib.PDU, 0, total)
	for i := 0; i < total; i++ {
		content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": fmt.Sprintf("inbound %d", i)})
		p, err := verImpl.NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
			SenderID: bob.UserID.String(), RoomID: roomID, Type: "m.room.message", Content: content,
			PrevEvents: prev, AuthEvents: tmpl.Event.AuthEventIDs(), Depth: depth,
		}).Build(time.Now(), key.ServerName, key.ID, key.Private)
		if err != nil {
			b.Fatal(err)
		}
		pdus = append(pdus, p)
		prev, depth = []string{p.EventID()}, depth+1
	}
	c := peerClient(b, hs2)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < total; i += perTxn {
		txn := gomatrixserverlib.Transaction{TransactionID: gomatrixserverlib.TransactionID(fmt.Sprintf("bench%d", i)),
			Origin: hs2.ServerName, Destination: hs1.ServerName, OriginServerTS: spec.AsTimestamp(time.Now())}
		for _, p := range pdus[i : i+perTxn] {
			txn.PDUs = append(txn.PDUs, p.JSON())
		}
		res, err := c.SendTransaction(ctx, txn)
		if err != nil {
			b.Fatal(err)
		}
		for id, r := range res.PDUs {
			if r.Error != "" {
				b.Fatalf("PDU %s refused: %s", id, r.Error)
			}
		}
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "PDUs/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkFederationJoinLargeRoom: joining, through federation, a room
// with 500 state events and 1,000 messages of history.
func BenchmarkFederationJoinLargeRoom(b *testing.B) {
	// One joining server per round: a second join from the same server
	// would be a local one.
	servers := apptest.StartFederation(b, 1+b.N)
	hs1 := servers[0]
	ctx := context.Background()
	alice := hs1.Register(b, "alice")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if _, err := alice.SendStateEvent(ctx, created.RoomID, event.NewEventType("de.bund.akte"), fmt.Sprintf("akte-%d", i), map[string]int{"n": i}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 1000; i++ {
		if _, err := alice.SendText(ctx, created.RoomID, fmt.Sprintf("history %d", i)); err != nil {
			b.Fatal(err)
		}
	}
	joiners := make([]*mautrix.Client, b.N)
	for i := range joiners {
		joiners[i] = servers[1+i].Register(b, "bob")
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := joiners[i].JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/join")
	b.ReportMetric(0, "ns/op")
}
