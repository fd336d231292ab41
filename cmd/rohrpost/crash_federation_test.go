package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/testca"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// deliveryWait bounds how long the test waits for a server to have every
// acknowledged message: generous, since after a kill -9 the other
// server's queue is in backoff, and a restarted process whose owner id
// changed would wait up to 35 s for its predecessor's leases (decision
// 0011, "Owner ids").
const deliveryWait = 2 * time.Minute

// TestFederationKillMidConversation runs two real processes that
// federate over TLS. Each is killed with SIGKILL while users on both
// sides send, and restarted on the same data and port; then one stops
// cleanly and starts again. Every message acknowledged to a client, on
// either side, must be in /messages on both servers, once, and in its
// sender's order.
func TestFederationKillMidConversation(t *testing.T) {
	ca := testca.New(t)
	a, b := newFedServer(t, ca), newFedServer(t, ca)
	a.start(t)
	b.start(t)
	ctx := context.Background()

	alice, carol := registerClient(t, a.url, "alice"), registerClient(t, a.url, "carol")
	bob := registerClient(t, b.url, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	if _, err := carol.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, room.String(), &mautrix.ReqJoinRoom{Via: []string{a.name}}); err != nil {
		t.Fatalf("bob joins through %s: %v", a.name, err)
	}
	waitFor(t, time.Minute, "bob's join reaches A", func() (bool, string) {
		resp, err := alice.JoinedMembers(ctx, room)
		if err != nil {
			return false, err.Error()
		}
		_, ok := resp.Joined[bob.UserID]
		return ok, "bob not joined"
	})

	sa, sc, sb := &sender{name: "alice", cli: alice}, &sender{name: "carol", cli: carol}, &sender{name: "bob", cli: bob}
	conv := &conversation{room: room, senders: []*sender{sa, sc, sb},
		readers: map[string]*mautrix.Client{"A": alice, "B": bob}}

	// Both ways before anything goes wrong.
	for _, s := range conv.senders {
		for range 3 {
			s.mustSend(t, ctx, room)
		}
	}
	conv.waitDelivered(t, "before the kills")

	// SIGKILL A while alice, carol and bob send; bob goes on while A is
	// down, so B's queue holds events for a dead peer.
	run := startSending(ctx, room, sa, sc, sb)
	aBefore := sa.count() + sc.count()
	waitFor(t, time.Minute, "A's users send", func() (bool, string) {
		n := sa.count() + sc.count() - aBefore
		return n >= 40, fmt.Sprintf("%d acknowledged", n)
	})
	a.kill(t)
	run.wait(sa, sc) // their server is gone: they end with an error
	t.Logf("A killed with %s; in flight: %s", conv.lacking(t, "B", sa, sc), inFlight(sa, sc))
	bBefore := sb.count()
	waitFor(t, time.Minute, "bob sends while A is down", func() (bool, string) {
		n := sb.count() - bBefore
		return n >= 15, fmt.Sprintf("%d acknowledged", n)
	})
	run.stopAndCheck(t, sb)
	a.start(t)
	restarted := time.Now()
	sa.retry(t, ctx, room)
	sc.retry(t, ctx, room)
	for range 10 {
		for _, s := range conv.senders {
			s.mustSend(t, ctx, room)
		}
	}
	conv.waitDelivered(t, "after A's kill -9")
	t.Logf("after A's kill -9 and restart, both servers had every message %s after the restart", time.Since(restarted).Round(100*time.Millisecond))

	// SIGKILL B while alice, carol and bob send; A goes on while B is
	// down.
	run = startSending(ctx, room, sa, sc, sb)
	aBefore = sa.count() + sc.count()
	waitFor(t, time.Minute, "A's users send", func() (bool, string) {
		n := sa.count() + sc.count() - aBefore
		return n >= 30, fmt.Sprintf("%d acknowledged", n)
	})
	b.kill(t)
	run.wait(sb)
	t.Logf("B killed with %s; in flight: %s", conv.lacking(t, "A", sb), inFlight(sb))
	aBefore = sa.count() + sc.count()
	waitFor(t, time.Minute, "A's users send while B is down", func() (bool, string) {
		n := sa.count() + sc.count() - aBefore
		return n >= 30, fmt.Sprintf("%d acknowledged", n)
	})
	run.stopAndCheck(t, sa, sc)
	b.start(t)
	restarted = time.Now()
	sb.retry(t, ctx, room)
	for range 10 {
		for _, s := range conv.senders {
			s.mustSend(t, ctx, room)
		}
	}
	conv.waitDelivered(t, "after B's kill -9")
	t.Logf("after B's kill -9 and restart, both servers had every message %s after the restart", time.Since(restarted).Round(100*time.Millisecond))

	// A clean restart of A, bob sending while it is down.
	a.stop(t)
	for range 5 {
		sb.mustSend(t, ctx, room)
	}
	a.start(t)
	restarted = time.Now()
	for range 5 {
		for _, s := range conv.senders {
			s.mustSend(t, ctx, room)
		}
	}
	conv.waitDelivered(t, "after A's clean restart")
	t.Logf("after A's clean restart, both servers had every message %s after the restart", time.Since(restarted).Round(100*time.Millisecond))

	conv.check(t)
	a.stop(t)
	b.stop(t)
}

// sender is one user sending numbered messages, each with its own
// transaction id, keeping those the server acknowledged.
type sender struct {
	name string
	cli  *mautrix.Client

	mu    sync.Mutex
	next  int
	acked []acked
	// inFlight is the message whose PUT got no answer: the server died
	// under it. It may or may not have been committed.
	inFlight *acked
}

// send sends the next message; an error leaves it in flight.
func (s *sender) send(ctx context.Context, room id.RoomID) error {
	s.mu.Lock()
	if s.inFlight != nil {
		s.mu.Unlock()
		return fmt.Errorf("%s: a message is still in flight", s.name)
	}
	a := acked{txnID: fmt.Sprintf("%s-%d", s.name, s.next), body: fmt.Sprintf("%s %d", s.name, s.next)}
	s.next++
	s.inFlight = &a
	s.mu.Unlock()
	return s.put(ctx, room, a)
}

func (s *sender) put(ctx context.Context, room id.RoomID, a acked) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := s.cli.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{"msgtype": "m.text", "body": a.body},
		mautrix.ReqSendEvent{TransactionID: a.txnID})
	if err != nil {
		return err
	}
	a.eventID = resp.EventID.String()
	s.mu.Lock()
	s.acked = append(s.acked, a)
	s.inFlight = nil
	s.mu.Unlock()
	return nil
}

func (s *sender) mustSend(t *testing.T, ctx context.Context, room id.RoomID) {
	t.Helper()
	if err := s.send(ctx, room); err != nil {
		t.Fatalf("%s sends: %v", s.name, err)
	}
}

// retry sends the message in flight again with its transaction id, after
// its server restarted: if the first attempt was committed, the server
// must answer with the same event and not make a second one.
func (s *sender) retry(t *testing.T, ctx context.Context, room id.RoomID) {
	t.Helper()
	s.mu.Lock()
	a := s.inFlight
	s.mu.Unlock()
	if a == nil {
		return
	}
	if err := s.put(ctx, room, *a); err != nil {
		t.Fatalf("%s retries %s after the restart: %v", s.name, a.txnID, err)
	}
}

func (s *sender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

func (s *sender) ackedCopy() []acked {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]acked(nil), s.acked...)
}

// sending is a set of senders sending as fast as their servers answer.
type sending struct {
	stop chan struct{}
	done map[*sender]chan error
}

func startSending(ctx context.Context, room id.RoomID, senders ...*sender) *sending {
	r := &sending{stop: make(chan struct{}), done: map[*sender]chan error{}}
	for _, s := range senders {
		done := make(chan error, 1)
		r.done[s] = done
		go func() {
			for {
				select {
				case <-r.stop:
					done <- nil
					return
				default:
				}
				if err := s.send(ctx, room); err != nil {
					done <- err
					return
				}
			}
		}()
	}
	return r
}

// wait waits for senders that end by themselves (their server died).
func (r *sending) wait(senders ...*sender) {
	for _, s := range senders {
		<-r.done[s]
		r.done[s] <- nil // for stopAndCheck
	}
}

// stopAndCheck stops all senders; those named must not have failed.
func (r *sending) stopAndCheck(t *testing.T, mustNotFail ...*sender) {
	t.Helper()
	close(r.stop)
	for s, done := range r.done {
		err := <-done
		for _, m := range mustNotFail {
			if m == s && err != nil {
				t.Errorf("%s's server is up, yet a send failed: %v", s.name, err)
			}
		}
	}
}

// conversation is what was acknowledged in one room, and a reader on
// each server.
type conversation struct {
	room    id.RoomID
	senders []*sender
	readers map[string]*mautrix.Client
}

// waitDelivered waits until every server has every acknowledged message.
func (c *conversation) waitDelivered(t *testing.T, when string) {
	t.Helper()
	for server, cli := range c.readers {
		waitFor(t, deliveryWait, fmt.Sprintf("%s: every acknowledged message on %s", when, server), func() (bool, string) {
			msgs, err := roomMessages(context.Background(), cli, c.room)
			if err != nil {
				return false, err.Error()
			}
			have := map[string]bool{}
			for _, m := range msgs {
				have[m.eventID] = true
			}
			var missing []string
			total := 0
			for _, s := range c.senders {
				for _, a := range s.ackedCopy() {
					total++
					if !have[a.eventID] {
						missing = append(missing, fmt.Sprintf("%q (%s)", a.body, a.eventID))
					}
				}
			}
			if len(missing) == 0 {
				return true, ""
			}
			return false, fmt.Sprintf("%d of %d missing, such as %s", len(missing), total, strings.Join(missing[:min(5, len(missing))], ", "))
		})
	}
}

// lacking says how many of the senders' acknowledged messages the server
// of reader does not have yet: what the killed server's queue still had to
// send.
func (c *conversation) lacking(t *testing.T, reader string, senders ...*sender) string {
	t.Helper()
	msgs, err := roomMessages(context.Background(), c.readers[reader], c.room)
	if err != nil {
		t.Fatalf("%s: /messages: %v", reader, err)
	}
	have := map[string]bool{}
	for _, m := range msgs {
		have[m.eventID] = true
	}
	acked, missing := 0, 0
	for _, s := range senders {
		for _, a := range s.ackedCopy() {
			acked++
			if !have[a.eventID] {
				missing++
			}
		}
	}
	return fmt.Sprintf("%d of its %d acknowledged messages not yet on %s", missing, acked, reader)
}

func inFlight(senders ...*sender) string {
	var out []string
	for _, s := range senders {
		s.mu.Lock()
		if s.inFlight != nil {
			out = append(out, s.inFlight.txnID)
		}
		s.mu.Unlock()
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// check holds the servers' timelines against what was acknowledged:
// nothing missing, nothing twice (also no second event for a retried
// transaction), each sender's messages in the order they were sent.
func (c *conversation) check(t *testing.T) {
	t.Helper()
	total := 0
	for _, s := range c.senders {
		total += s.count()
	}
	for server, cli := range c.readers {
		msgs, err := roomMessages(context.Background(), cli, c.room)
		if err != nil {
			t.Fatalf("%s: /messages: %v", server, err)
		}
		pos, bodies := map[string]int{}, map[string]string{}
		for i, m := range msgs {
			if _, dup := pos[m.eventID]; dup {
				t.Errorf("%s: event %s (%q) appears twice", server, m.eventID, m.body)
			}
			if other, dup := bodies[m.body]; dup && other != m.eventID {
				t.Errorf("%s: %q is there twice, as %s and %s", server, m.body, other, m.eventID)
			}
			pos[m.eventID], bodies[m.body] = i, m.eventID
		}
		for _, s := range c.senders {
			last := -1
			for _, a := range s.ackedCopy() {
				at, ok := pos[a.eventID]
				switch {
				case !ok:
					t.Errorf("%s: acknowledged %q (%s) is missing", server, a.body, a.eventID)
				case at < last:
					t.Errorf("%s: %q comes before the message %s sent before it", server, a.body, s.name)
				}
				last = max(last, at)
			}
		}
		t.Logf("%s: %d messages in /messages, %d acknowledged", server, len(msgs), total)
	}
}
