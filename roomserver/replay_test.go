package roomserver

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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

// After a crash the bus may lack events the database holds: committed but
// never published, or published after the last time the roomserver
// recorded how far it got. Whatever the recorded position and the bus
// together do not vouch for is published on the next start, in order,
// each once; what aged out of the stream is not published again.
func TestUnpublishedEventsAreReplayedOnStart(t *testing.T) {
	tests := []struct {
		name string
		// recordedBehind lowers the recorded position by this many events;
		// -1 clears it.
		recordedBehind int64
		// busLost starts on an empty bus store; agedOut purges the stream.
		busLost, agedOut bool
		// wantFrom is the first position on the bus after the restart;
		// 0 means nothing was published again.
		wantFrom func(committed int64) int64
	}{
		{"bus lost, nothing recorded", -1, true, false, func(int64) int64 { return 1 }},
		{"stream aged out, record lags two events", 2, false, true, func(c int64) int64 { return c - 1 }},
		{"stream aged out, record current", 0, false, true, func(int64) int64 { return 0 }},
		{"stream intact, record lags", 3, false, false, func(int64) int64 { return 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
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
			if got, err := first.store.PublishedPosition(ctx); err != nil || got != committed {
				t.Fatalf("recorded position after stop is %d (%v), want %d", got, err, committed)
			}
			if tc.agedOut {
				stream, err := firstBus.JS.Stream(ctx, bus.RoomEventsStream)
				if err != nil {
					t.Fatal(err)
				}
				if err := stream.Purge(ctx); err != nil {
					t.Fatal(err)
				}
			}
			firstBus.Close()
			recorded := committed - tc.recordedBehind
			if tc.recordedBehind < 0 {
				recorded = 0
			}
			if err := db.Write(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE published_position SET stream_pos = $1`, recorded)
				return err
			}); err != nil {
				t.Fatal(err)
			}

			storeDir := "nats-a"
			if tc.busLost {
				storeDir = "nats-b"
			}
			second, secondBus := start(storeDir)
			defer func() { second.Stop(); secondBus.Close() }()
			stream, err := secondBus.JS.Stream(ctx, bus.RoomEventsStream)
			if err != nil {
				t.Fatal(err)
			}
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var positions []int64
			for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
				msg, err := stream.GetMsg(ctx, seq)
				if err != nil {
					t.Fatal(err)
				}
				var ev OutputEvent
				if err := json.Unmarshal(msg.Data, &ev); err != nil {
					t.Fatal(err)
				}
				positions = append(positions, ev.StreamPos)
			}
			var want []int64
			if from := tc.wantFrom(committed); from > 0 {
				for p := from; p <= committed; p++ {
					want = append(want, p)
				}
			}
			if fmt.Sprint(positions) != fmt.Sprint(want) {
				t.Fatalf("bus holds positions %v after the restart, want %v", positions, want)
			}
			// A second replay publishes nothing more.
			if err := second.replayUnpublished(ctx); err != nil {
				t.Fatal(err)
			}
			if again, _ := stream.Info(ctx); again.State.Msgs != info.State.Msgs {
				t.Fatalf("replay published duplicates: %d messages, had %d", again.State.Msgs, info.State.Msgs)
			}
		})
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
