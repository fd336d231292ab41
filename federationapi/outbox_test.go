package federationapi

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/roomserver"
)

// The roomserver queues our events in its own commit (outbox.go): the
// rows are there exactly when the events are, a queue in the same
// process sends them on Committed alone, and the bus's copy of a queued
// event is not queued a second time.
func TestOutboxQueuesInTheCommit(t *testing.T) {
	env := newQueueEnv(t)
	peer, refused := newDestinationServer(t, env), newDestinationServer(t, env)
	isLocal := func(n spec.ServerName) bool { return n == testOrigin }
	allowed := func(n spec.ServerName) bool { return n != refused.name }
	outbox := &Outbox{store: env.store, isLocal: isLocal, allowed: allowed}

	cfg := testQueueConfig("one")
	// No poll during the test: only Committed's wake can start sending.
	cfg.PollInterval = time.Hour
	q, err := NewQueue(cfg, QueueDeps{Store: env.store, Bus: env.bus, Rooms: env.rooms, Sender: env.client,
		IsLocal: isLocal, Allowed: allowed, Outbox: outbox})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Stop)

	servers := []string{string(testOrigin), string(peer.name), string(refused.name)}
	output := func(seq int, sender string, known bool) roomserver.OutputEvent {
		pdu, _ := json.Marshal(map[string]any{"room_id": testRoom, "type": "m.room.message", "sender": sender,
			"content": map[string]any{"seq": seq, "sent": time.Now().UnixNano()}})
		ev := roomserver.OutputEvent{RoomID: testRoom, EventID: "$o" + string(rune('a'+seq)), StreamPos: int64(seq),
			Type: "m.room.message", Sender: sender, PDU: pdu, Known: known}
		if known {
			ev.Servers = servers
		}
		return ev
	}
	commit := func(outputs []roomserver.OutputEvent, fail error) error {
		return env.db.Write(context.Background(), func(tx *sql.Tx) error {
			if err := outbox.Record(tx, outputs); err != nil {
				return err
			}
			return fail
		})
	}

	// A commit that fails takes its queue rows with it.
	boom := errors.New("the batch failed")
	if err := commit([]roomserver.OutputEvent{output(1, "@alice:origin.test", true)}, boom); !errors.Is(err, boom) {
		t.Fatalf("failed commit: %v", err)
	}

	outputs := []roomserver.OutputEvent{
		output(2, "@alice:origin.test", true),
		output(3, peer.user("carol"), true), // a remote server sends its own
		output(4, "@alice:origin.test", false),
	}
	if err := commit(outputs, nil); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false} {
		if outputs[i].Queued != want {
			t.Errorf("output %d: queued %v, want %v", i, outputs[i].Queued, want)
		}
	}
	outbox.Committed(outputs)
	peer.waitFor(t, []int{2})

	// The bus's copies: the queued ones only wake; the one the outbox
	// left (as after a crash's replay) is queued by the consumer, which
	// asks the roomserver who is in the room.
	env.rooms.join(testRoom, "@alice:origin.test", peer.user("carol"))
	for _, ev := range outputs {
		data, _ := json.Marshal(ev)
		if _, err := env.bus.JS.Publish(context.Background(), bus.RoomEventsSubject, data); err != nil {
			t.Fatal(err)
		}
	}
	peer.waitFor(t, []int{2, 4})
	time.Sleep(100 * time.Millisecond) // a duplicate of 2 would arrive by now
	peer.waitFor(t, []int{2, 4})
	if got := refused.attemptsSoFar(); len(got) != 0 {
		t.Errorf("refused server was sent %d transactions", len(got))
	}
}
