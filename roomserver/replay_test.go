package roomserver

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/internal/testdb"
)

// Events committed but never published (here: the bus lost its store) are
// published on the next start, in order and each once.
func TestUnpublishedEventsAreReplayedOnStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlutil.Open(testdb.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, err := serverkey.LoadOrCreate(filepath.Join(dir, "key"), "test.local")
	if err != nil {
		t.Fatal(err)
	}
	start := func(storeDir string) (*Server, *bus.Conn) {
		conn, err := bus.Connect(ctx, bus.Options{StoreDir: filepath.Join(dir, storeDir)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(config.Default(), Deps{DB: db, Bus: conn, Keys: []serverkey.Key{key}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return s, conn
	}
	first, firstBus := start("nats-a")
	alice := user(t, "@alice:test.local")
	room, err := first.CreateRoom(ctx, CreateRoomRequest{Creator: alice})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := first.SendEvent(ctx, SendEventRequest{RoomID: room.RoomID, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	committed := first.counters.StreamPos
	first.Stop()
	firstBus.Close()

	second, secondBus := start("nats-b")
	defer func() { second.Stop(); secondBus.Close() }()
	stream, err := secondBus.JS.Stream(ctx, bus.RoomEventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(committed) {
		t.Fatalf("bus holds %d events after replay, want %d", info.State.Msgs, committed)
	}
	for seq := uint64(1); seq <= info.State.Msgs; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var ev OutputEvent
		if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.StreamPos != int64(seq) {
			t.Fatalf("message %d has position %d (%v), want in order", seq, ev.StreamPos, err)
		}
	}
	// A second start replays nothing more.
	if err := second.replayUnpublished(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := stream.Info(ctx); info.State.Msgs != uint64(committed) {
		t.Fatalf("replay published duplicates: %d messages", info.State.Msgs)
	}
}

// An event the bus refuses is published again once the bus takes
// messages, without waiting for a restart.
func TestRefusedPublicationIsRetried(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlutil.Open(testdb.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, err := serverkey.LoadOrCreate(filepath.Join(dir, "key"), "test.local")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := bus.Connect(ctx, bus.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := New(config.Default(), Deps{DB: db, Bus: conn, Keys: []serverkey.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	alice := user(t, "@alice:test.local")
	room, err := s.CreateRoom(ctx, CreateRoomRequest{Creator: alice})
	if err != nil {
		t.Fatal(err)
	}
	// Without its stream the bus refuses the output; the stream comes
	// back a moment later.
	if err := conn.JS.DeleteStream(ctx, bus.RoomEventsStream); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		if _, err := conn.JS.CreateStream(ctx, jetstream.StreamConfig{Name: bus.RoomEventsStream, Subjects: []string{bus.RoomEventsSubject}}); err != nil {
			t.Error(err)
		}
	}()
	sent, err := s.SendEvent(ctx, SendEventRequest{RoomID: room.RoomID, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{"body":"nach der Störung"}`)})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := conn.JS.Stream(ctx, bus.RoomEventsStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, bus.RoomEventsSubject)
	if err != nil {
		t.Fatal(err)
	}
	var ev OutputEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.EventID != sent.EventID {
		t.Fatalf("the stream ends with %s (%v), want the event sent while it was gone, %s", ev.EventID, err, sent.EventID)
	}
}
