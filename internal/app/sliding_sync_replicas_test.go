package app_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rohrpost/rohrpost/internal/app"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// startNATS runs a NATS server with JetStream that several apps of one
// test share, as separate services share their cluster.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// startSyncReplica runs a second sync API, alone in its process as in a
// services deployment: the same database, the other components reached
// over the bus.
func startSyncReplica(t *testing.T, primary *apptest.Server) string {
	t.Helper()
	a, err := app.New(context.Background(), primary.App.Config, app.Options{Components: []string{app.SyncAPI}})
	if err != nil {
		t.Fatalf("sync replica: %v", err)
	}
	srv := httptest.NewServer(a.Handler("client"))
	t.Cleanup(func() {
		a.EndRequests()
		srv.Close()
		a.Close()
	})
	return srv.URL
}

// TestSlidingSyncTwoReplicasInTurn: two sync servers on one database
// serve one sliding sync connection, its requests alternating between
// them. Each answers from the connection's state in the database and
// its own room index, so the deltas are what one server would send:
// every new event once, rooms sent whole only when new to the
// connection, a kicked room gone once forgotten through the other
// server, and a long poll on one woken by an event sent through the
// other.
func TestSlidingSyncTwoReplicasInTurn(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.NATS.Addresses = []string{startNATS(t)}
	a := apptest.StartWith(t, cfg)
	b := startSyncReplica(t, a)
	servers := []string{a.URL, b}
	ctx := context.Background()
	alice := a.Register(t, "alice")
	bob := a.Register(t, "bob")

	var rooms []id.RoomID
	for i := 0; i < 3; i++ {
		r, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: fmt.Sprintf("Raum %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.JoinRoomByID(ctx, r.RoomID); err != nil {
			t.Fatal(err)
		}
		send(t, alice, r.RoomID, fmt.Sprintf("hello %d", i))
		rooms = append(rooms, r.RoomID)
	}

	// Element X's room list with a timeline long enough to see every
	// new message.
	request := func() map[string]any {
		req := roomListRequest(19, nil)
		req["lists"].(map[string]any)["all_rooms"].(map[string]any)["timeline_limit"] = 10
		return req
	}
	pos := ""
	// next asks server 0 (A) or 1 (B), long-polling up to wait ms.
	next := func(step string, server, wait int) *ssResponse {
		t.Helper()
		status, r := slide(t, servers[server], alice, pos, wait, request())
		if status != 200 {
			t.Fatalf("%s (server %d): %d %s", step, server, status, r.ErrCode)
		}
		pos = r.Pos
		return r
	}
	// onlyMessages checks that the answer has exactly these rooms, none
	// sent whole, each with exactly these new messages.
	onlyMessages := func(step string, r *ssResponse, want map[id.RoomID][]string) {
		t.Helper()
		if len(r.Rooms) != len(want) {
			t.Fatalf("%s: %d rooms, want %d: %v", step, len(r.Rooms), len(want), keys(r.Rooms))
		}
		for room, msgs := range want {
			got := r.Rooms[room.String()]
			if got == nil || got.Initial || !slices.Equal(bodies(got.Timeline), msgs) {
				t.Fatalf("%s: room %s: %+v, want %v", step, room, got, msgs)
			}
		}
	}

	first := next("first", 0, 0)
	if len(first.Rooms) != 3 || listRooms(first, "all_rooms")[0] != rooms[2].String() {
		t.Fatalf("first: %v", listsOf(first))
	}

	send(t, bob, rooms[0], "eins")
	r := next("after one message", 1, 5000) // B: its first request for alice reads all rooms
	onlyMessages("after one message", r, map[id.RoomID][]string{rooms[0]: {"eins"}})
	if got := listRooms(r, "all_rooms"); got[0] != rooms[0].String() {
		t.Fatalf("order: %v", got)
	}

	send(t, bob, rooms[1], "zwei")
	send(t, bob, rooms[1], "drei")
	r = next("two messages", 0, 5000) // A: its index is brought forward
	onlyMessages("two messages", r, map[id.RoomID][]string{rooms[1]: {"zwei", "drei"}})

	// A new room, and messages in two rooms: B's index is two steps
	// behind and is brought forward over all of it.
	fresh, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Neu"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.JoinRoomByID(ctx, fresh.RoomID); err != nil {
		t.Fatal(err)
	}
	send(t, bob, rooms[2], "vier")
	send(t, bob, fresh.RoomID, "fünf")
	r = next("new room", 1, 5000)
	if got := r.Rooms[fresh.RoomID.String()]; got == nil || !got.Initial || !slices.Equal(bodies(got.Timeline), []string{"fünf"}) {
		t.Fatalf("new room: %+v", got)
	}
	delete(r.Rooms, fresh.RoomID.String())
	onlyMessages("new room", r, map[id.RoomID][]string{rooms[2]: {"vier"}})
	if got := listRooms(r, "all_rooms"); r.Lists["all_rooms"].Count != 4 || got[0] != fresh.RoomID.String() || got[1] != rooms[2].String() {
		t.Fatalf("order with the new room: %v", listsOf(r))
	}

	// The same pos sent to either server is answered alike.
	prev := pos
	send(t, bob, rooms[0], "sechs")
	onA := next("same pos, server A", 0, 5000)
	pos = prev
	onB := next("same pos, server B", 1, 5000)
	onlyMessages("same pos, server A", onA, map[id.RoomID][]string{rooms[0]: {"sechs"}})
	onlyMessages("same pos, server B", onB, map[id.RoomID][]string{rooms[0]: {"sechs"}})
	if fmt.Sprint(listsOf(onA)) != fmt.Sprint(listsOf(onB)) {
		t.Fatalf("lists differ: A %v, B %v", listsOf(onA), listsOf(onB))
	}
	// The pos A gave is gone: B's answer to the same pos replaced it.
	if status, resp := slide(t, a.URL, alice, onA.Pos, 0, request()); status != 400 || resp.ErrCode != "M_UNKNOWN_POS" {
		t.Fatalf("superseded pos: %d %s", status, resp.ErrCode)
	}

	// Kicked through A, forgotten through A: B, whose index still has
	// the kick, must drop the room (forgetting moves no stream).
	if _, err := bob.KickUser(ctx, fresh.RoomID, &mautrix.ReqKickUser{UserID: alice.UserID}); err != nil {
		t.Fatal(err)
	}
	r = next("kick", 0, 5000)
	if !slices.Contains(listRooms(r, "all_rooms"), fresh.RoomID.String()) {
		t.Fatalf("a kick is listed until forgotten: %v", listsOf(r))
	}
	next("kick seen by B", 1, 0) // B brings its index to the kick
	if _, err := alice.ForgetRoom(ctx, fresh.RoomID); err != nil {
		t.Fatal(err)
	}
	send(t, bob, rooms[1], "sieben")
	r = next("forgotten", 1, 5000)
	if slices.Contains(listRooms(r, "all_rooms"), fresh.RoomID.String()) || r.Lists["all_rooms"].Count != 3 {
		t.Fatalf("forgotten room still listed by B: %v", listsOf(r))
	}
	onlyMessages("forgotten", r, map[id.RoomID][]string{rooms[1]: {"sieben"}})

	// A long poll on one server wakes for a message sent through the
	// other's client API (the bus tells every sync server).
	for i, url := range servers {
		done := make(chan *ssResponse, 1)
		from := pos
		go func() {
			_, r := slide(t, url, alice, from, 10000, request())
			done <- r
		}()
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		msg := fmt.Sprintf("wach %d", i)
		send(t, bob, rooms[2], msg)
		select {
		case r := <-done:
			onlyMessages("long poll", r, map[id.RoomID][]string{rooms[2]: {msg}})
			if time.Since(start) > 5*time.Second {
				t.Fatalf("server %d woke after %v", i, time.Since(start))
			}
			pos = r.Pos
		case <-time.After(10 * time.Second):
			t.Fatalf("long poll on server %d did not wake", i)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
