package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/testdb"
)

const owner, other = "owner-a", "owner-b"

func openQueue(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pdu(room string, pos int64, dests ...spec.ServerName) Outgoing {
	id := fmt.Sprintf("$%s-%d", room, pos)
	return Outgoing{Kind: PDU, Origin: "here", RoomID: room, EventID: id, StreamPos: pos,
		JSON: []byte(fmt.Sprintf(`{"event":%q}`, id)), Destinations: dests}
}

func edu(n int, dests ...spec.ServerName) Outgoing {
	return Outgoing{Kind: EDU, Origin: "here", JSON: []byte(fmt.Sprintf(`{"edu_type":"m.typing","content":{"n":%d}}`, n)), Destinations: dests}
}

func mustClaim(t *testing.T, s *Store, dest spec.ServerName, who string, now time.Time) {
	t.Helper()
	if _, err := s.ClaimDestination(context.Background(), dest, who, now, now.Add(time.Minute)); err != nil {
		t.Fatalf("claim %s by %s: %v", dest, who, err)
	}
}

func count(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.Read.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestQueueTransactionsInOrder(t *testing.T) {
	ctx := context.Background()
	s := openQueue(t)
	var items []Outgoing
	// Stream positions out of insertion order: a second replica may queue
	// an earlier event later.
	for i := int64(1); i <= 120; i++ {
		pos := i
		if i == 3 {
			pos = 200
		}
		items = append(items, pdu("!r", pos, "a", "b"))
	}
	for i := range 150 {
		items = append(items, edu(i, "a"))
	}
	if err := s.Enqueue(ctx, items); err != nil {
		t.Fatal(err)
	}
	// Redelivered events are not queued twice.
	if err := s.Enqueue(ctx, items[:10]); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mustClaim(t, s, "a", owner, now)

	var gotPDUs []string
	gotEDUs := 0
	for round := 0; ; round++ {
		txn, err := s.NextTransaction(ctx, "a", owner, now, fmt.Sprintf("t%d", round), 50, 100)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if txn.ID != fmt.Sprintf("t%d", round) || txn.Origin != "here" {
			t.Fatalf("round %d: txn %q from %q", round, txn.ID, txn.Origin)
		}
		if len(txn.PDUs) > 50 || len(txn.EDUs) > 100 || len(txn.PDUs) != len(txn.EventIDs) {
			t.Fatalf("round %d: %d PDUs (%d ids), %d EDUs", round, len(txn.PDUs), len(txn.EventIDs), len(txn.EDUs))
		}
		// Until it is sent, the same transaction comes back: with EDUs,
		// with its id; PDUs only, the same events (see unmarked).
		again, err := s.NextTransaction(ctx, "a", owner, now, "other", 50, 100)
		sameID := again != nil && (again.ID == txn.ID || (len(txn.EDUs) == 0 && again.ID == "other"))
		if err != nil || !sameID || !slices.Equal(again.EventIDs, txn.EventIDs) || len(again.EDUs) != len(txn.EDUs) {
			t.Fatalf("round %d: retry got %+v, %v", round, again, err)
		}
		gotPDUs = append(gotPDUs, txn.EventIDs...)
		gotEDUs += len(txn.EDUs)
		if err := s.TransactionSent(ctx, "a", txn); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i := int64(1); i <= 120; i++ {
		if i != 3 {
			want = append(want, fmt.Sprintf("$!r-%d", i))
		}
	}
	want = append(want, "$!r-200")
	if !slices.Equal(gotPDUs, want) || gotEDUs != 150 {
		t.Fatalf("sent PDUs %v and %d EDUs, want %v and 150", gotPDUs, gotEDUs, want)
	}
	// What b still waits for keeps its bodies; nothing else does.
	if n := count(t, s, `SELECT COUNT(*) FROM federation_queue_bodies`); n != 120 {
		t.Fatalf("%d bodies left, want the 120 b still needs", n)
	}
	if n, err := s.QueueLength(ctx, "b"); err != nil || n != 120 {
		t.Fatalf("b waits for %d, %v", n, err)
	}
}

func TestQueueOneOriginPerTransaction(t *testing.T) {
	ctx := context.Background()
	s := openQueue(t)
	first, second := pdu("!r", 1, "a"), pdu("!r", 2, "a")
	second.Origin = "elsewhere.local"
	third := edu(1, "a")
	if err := s.Enqueue(ctx, []Outgoing{first, second, third}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mustClaim(t, s, "a", owner, now)
	origins := map[spec.ServerName]int{}
	for round := 0; ; round++ {
		txn, err := s.NextTransaction(ctx, "a", owner, now, fmt.Sprint(round), 50, 100)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		origins[txn.Origin] += len(txn.PDUs) + len(txn.EDUs)
		if err := s.TransactionSent(ctx, "a", txn); err != nil {
			t.Fatal(err)
		}
	}
	if origins["here"] != 2 || origins["elsewhere.local"] != 1 {
		t.Fatalf("items per origin: %v", origins)
	}
}

func TestQueueLeases(t *testing.T) {
	ctx := context.Background()
	s := openQueue(t)
	// With an EDU, so that the transaction is marked with its id.
	if err := s.Enqueue(ctx, []Outgoing{pdu("!r", 1, "a", "b"), edu(1, "a")}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"first owner claims", func() error { _, err := s.ClaimDestination(ctx, "a", owner, now, now.Add(time.Minute)); return err }, nil},
		{"owner claims again", func() error { _, err := s.ClaimDestination(ctx, "a", owner, now, now.Add(time.Minute)); return err }, nil},
		{"other is refused while the lease runs", func() error {
			st, err := s.ClaimDestination(ctx, "a", other, now.Add(time.Second), now.Add(time.Minute))
			if st.Owner != owner {
				return fmt.Errorf("owner %q", st.Owner)
			}
			return err
		}, ErrLeaseLost},
		{"owner builds a transaction", func() error { _, err := s.NextTransaction(ctx, "a", owner, now, "t1", 50, 100); return err }, nil},
		{"other cannot build one", func() error { _, err := s.NextTransaction(ctx, "a", other, now, "t2", 50, 100); return err }, ErrLeaseLost},
		{"other takes over an expired lease", func() error {
			_, err := s.ClaimDestination(ctx, "a", other, now.Add(2*time.Minute), now.Add(3*time.Minute))
			return err
		}, nil},
		{"the old owner's lease is gone", func() error {
			_, err := s.NextTransaction(ctx, "a", owner, now.Add(2*time.Minute), "t3", 50, 100)
			return err
		}, ErrLeaseLost},
		{"the new owner resends the same transaction", func() error {
			txn, err := s.NextTransaction(ctx, "a", other, now.Add(2*time.Minute), "t4", 50, 100)
			if err == nil && txn.ID != "t1" {
				return fmt.Errorf("txn id %q, want t1", txn.ID)
			}
			return err
		}, nil},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.want) || (st.want == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.want)
		}
	}

	held, err := s.RenewLeases(ctx, other, now.Add(10*time.Minute))
	if err != nil || !held["a"] || len(held) != 1 {
		t.Fatalf("renewed %v, %v", held, err)
	}
	claimable, err := s.ClaimableDestinations(ctx, owner, now.Add(5*time.Minute))
	if err != nil || !slices.Equal(claimable, []spec.ServerName{"b"}) {
		t.Fatalf("claimable for owner: %v, %v", claimable, err)
	}
	if err := s.ReleaseDestination(ctx, "a", other); err != nil {
		t.Fatal(err)
	}
	claimable, err = s.ClaimableDestinations(ctx, owner, now)
	slices.Sort(claimable)
	if err != nil || !slices.Equal(claimable, []spec.ServerName{"a", "b"}) {
		t.Fatalf("claimable after release: %v, %v", claimable, err)
	}
	mustClaim(t, s, "b", owner, now)
	if err := s.ReleaseAll(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Destination(ctx, "b"); err != nil || st.Owner != "" {
		t.Fatalf("b after release: %+v, %v", st, err)
	}
}

func TestQueueBackoffState(t *testing.T) {
	ctx := context.Background()
	s := openQueue(t)
	if err := s.Enqueue(ctx, []Outgoing{pdu("!r", 1, "a")}); err != nil {
		t.Fatal(err)
	}
	retry := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
	if err := s.TransactionFailed(ctx, "a", 3, retry); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st, err := s.ClaimDestination(ctx, "a", owner, now, now.Add(time.Minute))
	if err != nil || st.Failures != 3 || !st.RetryAt.Equal(retry) {
		t.Fatalf("claimed %+v, %v; want 3 failures, retry at %v", st, err, retry)
	}
	txn, err := s.NextTransaction(ctx, "a", owner, now, "t", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TransactionSent(ctx, "a", txn); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Destination(ctx, "a"); err != nil || st.Failures != 0 || st.RetryAt.UnixMilli() != 0 {
		t.Fatalf("after success: %+v, %v", st, err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM federation_queue_bodies`); n != 0 {
		t.Fatalf("%d bodies left", n)
	}
}

func TestQueueDrop(t *testing.T) {
	ctx := context.Background()
	s := openQueue(t)
	if err := s.Enqueue(ctx, []Outgoing{pdu("!r", 1, "a", "b"), pdu("!r", 2, "a"), edu(1, "a")}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DropQueue(ctx, "a"); err != nil || n != 3 {
		t.Fatalf("dropped %d, %v", n, err)
	}
	if n, err := s.QueueLength(ctx, "b"); err != nil || n != 1 {
		t.Fatalf("b waits for %d, %v", n, err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM federation_queue_bodies`); n != 1 {
		t.Fatalf("%d bodies left, want b's", n)
	}
}

// A transaction of PDUs only is built by reading: its rows are not marked,
// so it comes back under a new id until sent (the destination drops the
// events it has), and sending it removes exactly its rows. One with an EDU
// is marked and keeps its id.
func TestQueueUnmarkedPDUTransactions(t *testing.T) {
	ctx := context.Background()
	s := openQueue(t)
	if err := s.Enqueue(ctx, []Outgoing{pdu("!r", 1, "a"), pdu("!r", 2, "a")}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := s.ClaimDestination(ctx, "a", owner, now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	first, err := s.NextTransaction(ctx, "a", owner, now, "t1", 50, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM federation_queue WHERE txn_id IS NOT NULL`); n != 0 {
		t.Fatalf("%d rows marked for a transaction of PDUs only", n)
	}
	again, err := s.NextTransaction(ctx, "a", owner, now, "t2", 50, 100)
	if err != nil || again.ID != "t2" || !slices.Equal(again.EventIDs, first.EventIDs) {
		t.Fatalf("again: %+v, %v", again, err)
	}
	if _, err := s.NextTransaction(ctx, "a", other, now, "t3", 50, 100); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("another owner: %v, want ErrLeaseLost", err)
	}
	// A PDU queued meanwhile stays when the transaction is sent.
	if err := s.Enqueue(ctx, []Outgoing{pdu("!r", 3, "a"), edu(1, "a")}); err != nil {
		t.Fatal(err)
	}
	if err := s.TransactionSent(ctx, "a", first); err != nil {
		t.Fatal(err)
	}
	withEDU, err := s.NextTransaction(ctx, "a", owner, now, "t4", 50, 100)
	if err != nil || len(withEDU.PDUs) != 1 || len(withEDU.EDUs) != 1 {
		t.Fatalf("next: %+v, %v", withEDU, err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM federation_queue WHERE txn_id = 't4'`); n != 2 {
		t.Fatalf("%d rows marked for a transaction with an EDU, want 2", n)
	}
	if kept, err := s.NextTransaction(ctx, "a", owner, now, "t5", 50, 100); err != nil || kept.ID != "t4" {
		t.Fatalf("a marked transaction comes back with its id: %+v, %v", kept, err)
	}
}
