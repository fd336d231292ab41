package app_test

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// catchUpMessages is how many messages wait for the server that is down.
const catchUpMessages = 1000

// BenchmarkFederationCatchUp: B is down while alice on A sends 1,000
// messages to a room B's user is in; then B comes back. It measures how
// long A took to take the messages (queue-s), how long after B's start
// the first of them reached B (first-s: A's backoff) and the last that B
// will get (catchup-s), and the catch-up rate (events/s: events B stored
// per second from the first arrival to the last). received counts the
// messages B stored, timeline those in its timeline, visible those its
// user sees in /messages (paged back to the start of the room). The
// benchmark does not fail when B has fewer than all; it says so.
//
// Two cases: "peer-down", A's destination worker retrying through the
// outage; "sender-restarted", A restarting during the outage, so that a
// new worker finds the 1,000 waiting in the database and sends them all,
// in order (decision 0011: the catch-up bound of the first version, which
// sent only a room's newest events, was taken out).
//
// The outage lasts as long as sending takes, or -catchup.outage (such
// as 10m, the figure). After a long outage the first attempt
// after B's return comes late: A's backoff doubles from 2 s (attempts at
// 2, 6, 14, 30, 62, 126, 254, 510 and 1022 s after the first failure).
func BenchmarkFederationCatchUp(b *testing.B) {
	b.Run("peer-down", func(b *testing.B) { benchmarkCatchUp(b, false) })
	b.Run("sender-restarted", func(b *testing.B) { benchmarkCatchUp(b, true) })
}

var catchUpOutage = flag.Duration("catchup.outage", 0, "BenchmarkFederationCatchUp: how long the peer stays down at least")

func benchmarkCatchUp(b *testing.B, restartSender bool) {
	servers := apptest.StartFederation(b, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob := hs1.Register(b, "alice"), hs2.Register(b, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		b.Fatal(err)
	}
	room := created.RoomID
	if _, err := bob.JoinRoom(ctx, room.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		b.Fatal(err)
	}
	// One message through before the outage: keys fetched, connections
	// in place.
	if _, err := alice.SendText(ctx, room, "before the outage"); err != nil {
		b.Fatal(err)
	}
	pollUntil(b, time.Minute, "first message reaches B", func() bool {
		n, _ := storedMessages(b, hs2, room, alice.UserID)
		return n == 1
	})

	b.ResetTimer()
	var queueS, firstS, catchUpS, rate, received, timeline, visible, waiting float64
	for round := 0; round < b.N; round++ {
		r := catchUpRound(b, hs1, hs2, alice, bob, room, round, restartSender)
		queueS += r.queue.Seconds()
		firstS += r.first.Seconds()
		catchUpS += r.last.Seconds()
		// The rate once sending resumed, without the backoff before.
		rate += float64(r.received) / max(r.last-r.first, 100*time.Millisecond).Seconds()
		received += float64(r.received)
		timeline += float64(r.timeline)
		visible += float64(r.visible)
		waiting += float64(r.waiting)
	}
	n := float64(b.N)
	b.ReportMetric(queueS/n, "queue-s")
	b.ReportMetric(waiting/n, "waiting-at-start")
	b.ReportMetric(firstS/n, "first-s")
	b.ReportMetric(catchUpS/n, "catchup-s")
	b.ReportMetric(rate/n, "events/s")
	b.ReportMetric(received/n, "received")
	b.ReportMetric(timeline/n, "timeline")
	b.ReportMetric(visible/n, "visible")
	b.ReportMetric(0, "ns/op")
}

// catchUp is one outage: durations and counts of the round's messages.
type catchUp struct {
	queue, first, last          time.Duration
	waiting                     int // PDUs and EDUs in A's queue for B when B starts
	received, timeline, visible int
}

func catchUpRound(b *testing.B, hs1, hs2 *apptest.Server, alice, bob *mautrix.Client, room id.RoomID, round int, restartSender bool) catchUp {
	b.Helper()
	ctx := context.Background()
	var r catchUp
	before, _ := storedMessages(b, hs2, room, alice.UserID)
	hs2.Stop(b)
	start := time.Now()
	for i := 0; i < catchUpMessages; i++ {
		if _, err := alice.SendText(ctx, room, fmt.Sprintf("catch-up %d %d", round, i)); err != nil {
			b.Fatal(err)
		}
	}
	r.queue = time.Since(start)
	if restartSender {
		hs1.Restart(b)
	}
	if rest := *catchUpOutage - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	r.waiting = queueLength(b, hs1, hs2)

	hs2.Start(b)
	start = time.Now()
	last, lastN := start, before
	// Beyond A's longest backoff after the outage, and then some.
	for deadline := start.Add(5*time.Minute + *catchUpOutage); ; time.Sleep(100 * time.Millisecond) {
		n, _ := storedMessages(b, hs2, room, alice.UserID)
		now := time.Now()
		if n > lastN {
			if lastN == before {
				r.first = now.Sub(start)
			}
			last, lastN = now, n
		}
		if n-before >= catchUpMessages {
			break
		}
		// A has nothing left for B and B took nothing new for a while: B
		// has what it will get.
		if now.Sub(last) > 15*time.Second && queueLength(b, hs1, hs2) == 0 {
			break
		}
		if now.After(deadline) {
			b.Logf("round %d: B still taking events after %s", round, time.Since(start).Round(time.Second))
			break
		}
	}
	r.last = last.Sub(start)
	n, withPos := storedMessages(b, hs2, room, alice.UserID)
	r.received, r.timeline = n-before, withPos-before
	r.visible = visibleRound(b, bob, room, round)
	if r.visible < catchUpMessages {
		b.Logf("round %d: B is missing %d of the %d messages in /messages (stored %d, %d of them in its timeline; %d waited in A's queue at B's start)",
			round, catchUpMessages-r.visible, catchUpMessages, r.received, r.timeline, r.waiting)
	}
	return r
}

// storedMessages counts the messages of sender in room that B's
// roomserver stored and accepted, and how many of them are in its
// timeline (a stream position; the others are outliers).
func storedMessages(b *testing.B, hs *apptest.Server, room id.RoomID, sender id.UserID) (all, timeline int) {
	b.Helper()
	err := hs.App.DB.Read.QueryRow(`SELECT COUNT(*), COUNT(e.stream_pos) FROM events e JOIN rooms r ON r.room_nid = e.room_nid
		WHERE r.room_id = $1 AND e.type = 'm.room.message' AND e.sender = $2 AND e.rejected = 0`,
		room.String(), sender.String()).Scan(&all, &timeline)
	if err != nil {
		b.Fatalf("count stored messages: %v", err)
	}
	return all, timeline
}

// queueLength is how many PDUs and EDUs wait in from's queue for to.
func queueLength(b *testing.B, from, to *apptest.Server) int {
	b.Helper()
	var n int
	if err := from.App.DB.Read.QueryRow(`SELECT COUNT(*) FROM federation_queue WHERE destination = $1`, string(to.ServerName)).Scan(&n); err != nil {
		b.Fatalf("queue length: %v", err)
	}
	return n
}

// visibleRound counts the round's messages in /messages, paging back from
// the newest to the start of the room (where a server backfills).
func visibleRound(b *testing.B, cli *mautrix.Client, room id.RoomID, round int) int {
	b.Helper()
	prefix := fmt.Sprintf("catch-up %d ", round)
	seen := map[string]bool{}
	from := ""
	for {
		resp, err := cli.Messages(context.Background(), room, from, "", mautrix.DirectionBackward, nil, 100)
		if err != nil {
			b.Fatalf("messages: %v", err)
		}
		for _, ev := range resp.Chunk {
			if body, _ := ev.Content.Raw["body"].(string); ev.Type == event.EventMessage && strings.HasPrefix(body, prefix) {
				seen[body] = true
			}
		}
		if resp.End == "" || len(resp.Chunk) == 0 {
			return len(seen)
		}
		from = resp.End
	}
}

func pollUntil(b *testing.B, within time.Duration, what string, cond func() bool) {
	b.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	b.Fatalf("%s: not within %s", what, within)
}
