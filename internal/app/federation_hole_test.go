package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// A gap longer than a gap fill fetches (1,000 events) leaves a hole in
// the middle of the receiver's timeline. Its users still read all of it:
// paging back over the hole fetches the missing history from the sender
// (/backfill), in order, and /sync, which went past it, does not show it
// as new.
func TestFederationHoleInTimelineIsBackfilled(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob, room := federatedRoom(t, hs1, hs2)

	hs2.Stop(t)
	const n = 1060
	sendConcurrently(t, alice, room, n, "Loch %d")
	forgetQueued(t, hs1, hs2, n)
	if _, err := alice.SendText(ctx, room, "nach dem Loch"); err != nil {
		t.Fatal(err)
	}
	hs2.Start(t)
	waitForMessage(t, bob, room, "nach dem Loch")

	synced, err := bob.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	var holes int
	if err := hs2.App.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM timeline_holes`).Scan(&holes); err != nil {
		t.Fatal(err)
	}
	if holes != 1 {
		t.Fatalf("hs2 has %d holes in its timelines after a gap of %d events, want 1", holes, n)
	}

	want := messagesWithPrefix(pageAll(t, alice, room, mautrix.DirectionBackward, 100), "Loch ")
	got := messagesWithPrefix(pageAll(t, bob, room, mautrix.DirectionBackward, 100), "Loch ")
	if len(want) != n {
		t.Fatalf("alice pages back through %d of the %d messages", len(want), n)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("bob pages back through %d messages, want the %d alice sees in her order; first differences: %s", len(got), len(want), firstDifference(got, want))
	}
	if err := hs2.App.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM timeline_holes`).Scan(&holes); err != nil {
		t.Fatal(err)
	}
	if holes != 0 {
		t.Fatalf("%d holes left open after bob paged through all of the history", holes)
	}

	later, err := bob.SyncRequest(ctx, 0, synced.NextBatch, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if joined, ok := later.Rooms.Join[room]; ok {
		for _, ev := range joined.Timeline.Events {
			if body, _ := ev.Content.Raw["body"].(string); strings.HasPrefix(body, "Loch ") {
				t.Fatalf("/sync shows the backfilled %q as new", body)
			}
		}
	}
}

// sendConcurrently sends n text messages from a few senders at once, so
// that the roomserver commits them in batches.
func sendConcurrently(t *testing.T, cli *mautrix.Client, room id.RoomID, n int, format string) {
	t.Helper()
	next := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := cli.SendText(context.Background(), room, fmt.Sprintf(format, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// forgetQueued drops what hs1 queued for hs2 while it was down, as a
// sender that trims its catch-up to the newest event would.
func forgetQueued(t *testing.T, hs1, hs2 *apptest.Server, n int) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var queued int
		if err := hs1.App.DB.Read.QueryRowContext(ctx, hs1.App.DB.Schema(`SELECT COUNT(*) FROM federation_queue WHERE destination = $1 AND kind = 0`), string(hs2.ServerName)).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if queued >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := hs1.App.DB.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, hs1.App.DB.Schema(`DELETE FROM federation_queue WHERE destination = $1 AND kind = 0`), string(hs2.ServerName))
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func messagesWithPrefix(bodies []string, prefix string) []string {
	var out []string
	for _, b := range bodies {
		if strings.HasPrefix(b, prefix) {
			out = append(out, b)
		}
	}
	return out
}

func firstDifference(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: got %q, want %q", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("one is a prefix of the other (%d, %d)", len(got), len(want))
}
