package federationapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

// Local typing, receipts and presence reach the send queue from the bus,
// once each however many federation API processes follow it, and only
// what may leave this server.

// ephemeralSender is one federation API process following the bus with
// its own queue, sharing the env's database and bus with the others.
func ephemeralSender(t *testing.T, env *queueEnv, presence bool) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Presence.Enabled = presence
	q, err := NewQueue(testQueueConfig(""), QueueDeps{Store: env.store, Bus: env.bus, Rooms: env.rooms, Sender: env.client,
		IsLocal: func(n spec.ServerName) bool { return n == testOrigin }})
	if err != nil {
		t.Fatal(err)
	}
	// A stopped queue still stores what it is given, and sends nothing:
	// the test reads what waits.
	q.Stop()
	rooms := &ephemeralRooms{members: map[string]map[string]string{
		testRoom: {"@alice:origin.test": spec.Join, "@bob:remote.test": spec.Join},
		// Only for presence: alice shares this room with another server.
		"!other:origin.test": {"@alice:origin.test": spec.Join, "@carol:third.test": spec.Join},
	}}
	s := &Server{cfg: cfg, rooms: rooms, queue: q, keys: map[spec.ServerName]serverkey.Key{testOrigin: {ServerName: testOrigin}},
		ephemeral: newEphemeral(env.bus)}
	if err := s.startEphemeral(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stopEphemeral)
	return s
}

func publishLocalEDU(t *testing.T, env *queueEnv, typ, content string) {
	t.Helper()
	data, _ := json.Marshal(gomatrixserverlib.EDU{Type: typ, Origin: string(testOrigin), Content: []byte(content)})
	if _, err := env.bus.JS.Publish(context.Background(), bus.EphemeralOutSubject, data); err != nil {
		t.Fatal(err)
	}
}

// queuedEDUs waits until want EDUs wait for dest, then a little longer
// to see that no more come, and returns them.
func queuedEDUs(t *testing.T, env *queueEnv, dest spec.ServerName, want int) []gomatrixserverlib.EDU {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := env.store.QueueLength(ctx, dest)
		if err != nil {
			t.Fatal(err)
		}
		if n > want {
			t.Fatalf("%d EDUs queued for %s, want %d", n, dest, want)
		}
		if n == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d EDUs queued for %s after 10s, want %d", n, dest, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n, _ := env.store.QueueLength(ctx, dest); n != want {
		t.Fatalf("%d EDUs queued for %s, want %d", n, dest, want)
	}
	if want == 0 {
		return nil
	}
	now := time.Now()
	if _, err := env.store.ClaimDestination(ctx, dest, "reader", now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	txn, err := env.store.NextTransaction(ctx, dest, "reader", now, "t1", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]gomatrixserverlib.EDU, len(txn.EDUs))
	for i, raw := range txn.EDUs {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestOutboundEphemeralQueuedOnce(t *testing.T) {
	env := newQueueEnv(t)
	// Three federation API processes follow the same bus.
	for range 3 {
		ephemeralSender(t, env, true)
	}
	const typings = 20
	for i := range typings {
		publishLocalEDU(t, env, spec.MTyping, fmt.Sprintf(`{"room_id":%q,"user_id":"@alice:origin.test","typing":%t}`, testRoom, i%2 == 0))
	}
	publishLocalEDU(t, env, spec.MReceipt, `{"`+testRoom+`":{
		"m.read":{"@alice:origin.test":{"event_ids":["$e1"],"data":{"ts":5,"thread_id":"$root"}}},
		"m.read.private":{"@alice:origin.test":{"event_ids":["$e2"],"data":{"ts":6}}}}}`)
	publishLocalEDU(t, env, spec.MPresence, `{"push":[{"user_id":"@alice:origin.test","presence":"online","last_active_ago":0,"currently_active":true}]}`)
	// Not ours to send: another server's user, and a private receipt alone.
	publishLocalEDU(t, env, spec.MTyping, `{"room_id":"`+testRoom+`","user_id":"@bob:remote.test","typing":true}`)
	publishLocalEDU(t, env, spec.MReceipt, `{"`+testRoom+`":{"m.read.private":{"@alice:origin.test":{"event_ids":["$e3"],"data":{"ts":7}}}}}`)

	// The processes share the work, so the order between them is the
	// order in which they got to it; each process keeps its own.
	byType := map[string][]gomatrixserverlib.EDU{}
	for _, edu := range queuedEDUs(t, env, "remote.test", typings+2) {
		byType[edu.Type] = append(byType[edu.Type], edu)
	}
	starts := 0
	for _, edu := range byType[spec.MTyping] {
		var c typingNotice
		if err := json.Unmarshal(edu.Content, &c); err != nil || c.UserID != "@alice:origin.test" || c.RoomID != testRoom {
			t.Errorf("typing EDU %s (%v)", edu.Content, err)
		}
		if c.Typing {
			starts++
		}
	}
	if len(byType[spec.MTyping]) != typings || starts != typings/2 {
		t.Errorf("%d typing EDUs, %d starts; want %d, %d", len(byType[spec.MTyping]), starts, typings, typings/2)
	}
	if r := byType[spec.MReceipt]; len(r) != 1 || strings.Contains(string(r[0].Content), "private") || !strings.Contains(string(r[0].Content), `"thread_id":"$root"`) {
		t.Errorf("receipt EDUs: %v", r)
	}
	if len(byType[spec.MPresence]) != 1 {
		t.Errorf("%d presence EDUs, want 1", len(byType[spec.MPresence]))
	}
	// Presence goes to every server that shares a room with alice;
	// typing and receipts only to the room's.
	third := queuedEDUs(t, env, "third.test", 1)
	if third[0].Type != spec.MPresence {
		t.Errorf("third.test got %s", third[0].Type)
	}
}

func TestOutboundPresenceOff(t *testing.T) {
	env := newQueueEnv(t)
	ephemeralSender(t, env, false)
	publishLocalEDU(t, env, spec.MPresence, `{"push":[{"user_id":"@alice:origin.test","presence":"online","last_active_ago":0}]}`)
	publishLocalEDU(t, env, spec.MTyping, `{"room_id":"`+testRoom+`","user_id":"@alice:origin.test","typing":true}`)
	publishLocalEDU(t, env, spec.MTyping, `{"room_id":"`+testRoom+`","user_id":"@alice:origin.test","typing":false}`)
	// The typing after it is queued, in order, the presence never.
	edus := queuedEDUs(t, env, "remote.test", 2)
	for i, want := range []string{"true", "false"} {
		if edus[i].Type != spec.MTyping || !strings.Contains(string(edus[i].Content), `"typing":`+want) {
			t.Errorf("EDU %d: %s %s, want typing %s", i, edus[i].Type, edus[i].Content, want)
		}
	}
	queuedEDUs(t, env, "third.test", 0)
}
