package storage_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/internal/testdb"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	uastorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// openToDevice opens the sync API's store beside the user API's tables,
// whose devices table the orphan sweep reads.
func openToDevice(t *testing.T) (*storage.Store, *sqlutil.DB) {
	t.Helper()
	db := testdb.Open(t)
	ctx := context.Background()
	if _, err := uastorage.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func addDevice(t *testing.T, db *sqlutil.DB, user, device string) {
	t.Helper()
	err := db.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO devices (user_id, device_id, token_hash, created_ts) VALUES ($1, $2, $3, 0)`,
			user, device, []byte(user+"/"+device))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func msg(user, device, body string) storage.ToDevice {
	return storage.ToDevice{UserID: user, DeviceID: device, Sender: "@bob:x", Type: "de.bund.test",
		Content: json.RawMessage(fmt.Sprintf(`{"body":%q}`, body))}
}

func bodies(ms []storage.ToDevice) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		var c struct{ Body string }
		_ = json.Unmarshal(m.Content, &c)
		out[i] = c.Body
	}
	return out
}

// sender is the transaction of device n of one user sending m.test.
func sender(n int64, txnID string) storage.ToDeviceTxn {
	return storage.ToDeviceTxn{UserID: "@s:x", DeviceID: fmt.Sprint("DEVICE", n), EventType: "m.test", TxnID: txnID}
}

func TestToDeviceInbox(t *testing.T) {
	s, _ := openToDevice(t)
	ctx := context.Background()
	pos1, dup, err := s.PutToDevice(ctx, sender(7, "t1"), []storage.ToDevice{msg("@a:x", "A", "eins"), msg("@a:x", "B", "für B")})
	if err != nil || dup {
		t.Fatalf("first put: %v, dup %v", err, dup)
	}
	if _, dup, err := s.PutToDevice(ctx, sender(7, "t1"), []storage.ToDevice{msg("@a:x", "A", "eins nochmal")}); err != nil || !dup {
		t.Fatalf("same transaction id again: %v, dup %v", err, dup)
	}
	// Transaction ids belong to the sending device and the endpoint,
	// whose path names the event type.
	other := sender(7, "t1")
	other.EventType = "m.other"
	if _, dup, err := s.PutToDevice(ctx, other, nil); err != nil || dup {
		t.Fatalf("the same transaction id for another event type: %v, dup %v", err, dup)
	}
	if seen, err := s.ToDeviceTxnSeen(ctx, sender(7, "t1")); err != nil || !seen {
		t.Fatalf("a stored transaction id is not seen: %v %v", seen, err)
	}
	pos2, dup, err := s.PutToDevice(ctx, sender(8, "t1"), []storage.ToDevice{msg("@a:x", "A", "zwei")})
	if err != nil || dup || pos2 <= pos1 {
		t.Fatalf("another device's t1: pos %d after %d, dup %v, %v", pos2, pos1, dup, err)
	}
	if max, err := s.MaxToDevicePos(ctx); err != nil || max != pos2 {
		t.Fatalf("max position %d, want %d (%v)", max, pos2, err)
	}
	got, err := s.ToDeviceFor(ctx, "@a:x", "A", 0, pos2, 100)
	if err != nil || len(got) != 2 || bodies(got)[0] != "eins" || bodies(got)[1] != "zwei" {
		t.Fatalf("inbox of A: %v (%v)", bodies(got), err)
	}
	if got, _ := s.ToDeviceFor(ctx, "@a:x", "A", 0, pos2, 1); len(got) != 1 {
		t.Fatalf("limit 1 gave %d", len(got))
	}
	if got, _ := s.ToDeviceFor(ctx, "@a:x", "A", 0, pos1, 100); len(got) != 1 {
		t.Fatalf("up to the first put: %v", bodies(got))
	}
	if err := s.AckToDevice(ctx, "@a:x", "A", got[0].Pos); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ToDeviceFor(ctx, "@a:x", "A", 0, pos2, 100); len(got) != 1 || bodies(got)[0] != "zwei" {
		t.Fatalf("after acknowledging the first: %v", bodies(got))
	}
	if got, _ := s.ToDeviceFor(ctx, "@a:x", "B", 0, pos2, 100); len(got) != 1 {
		t.Fatalf("B's inbox is untouched by A's acknowledgement: %v", bodies(got))
	}
	if err := s.DropToDevice(ctx, "@a:x", []string{"B"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ToDeviceFor(ctx, "@a:x", "B", 0, pos2, 100); len(got) != 0 {
		t.Fatalf("a dropped inbox: %v", bodies(got))
	}
	// Positions never repeat, also once every inbox is empty.
	if err := s.AckToDevice(ctx, "@a:x", "A", pos2); err != nil {
		t.Fatal(err)
	}
	pos3, _, err := s.PutToDevice(ctx, sender(7, "t3"), []storage.ToDevice{msg("@a:x", "A", "drei")})
	if err != nil || pos3 <= pos2 {
		t.Fatalf("position after emptying: %d after %d (%v)", pos3, pos2, err)
	}
}

func TestToDeviceOrphansAndOldTransactions(t *testing.T) {
	s, db := openToDevice(t)
	ctx := context.Background()
	addDevice(t, db, "@a:x", "KEPT")
	pos, _, err := s.PutToDevice(ctx, sender(1, "t"), []storage.ToDevice{msg("@a:x", "KEPT", "bleibt"), msg("@a:x", "GONE", "weg")})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.DropOrphanedToDevice(ctx)
	if err != nil || n != 1 {
		t.Fatalf("dropped %d orphans, want 1 (%v)", n, err)
	}
	if got, _ := s.ToDeviceFor(ctx, "@a:x", "KEPT", 0, pos, 100); len(got) != 1 {
		t.Fatalf("an existing device's inbox: %v", bodies(got))
	}
	// A transaction id is forgotten once it is older than asked.
	if n, err := s.ExpireToDeviceTxns(ctx, time.Now().Add(-time.Hour).UnixMilli()); err != nil || n != 0 {
		t.Fatalf("expired %d fresh transaction ids (%v)", n, err)
	}
	if n, err := s.ExpireToDeviceTxns(ctx, time.Now().Add(time.Hour).UnixMilli()); err != nil || n != 1 {
		t.Fatalf("expired %d old transaction ids, want 1 (%v)", n, err)
	}
	if _, dup, err := s.PutToDevice(ctx, sender(1, "t"), nil); err != nil || dup {
		t.Fatalf("an expired transaction id still deduplicates: dup %v (%v)", dup, err)
	}
}

// Concurrent senders get distinct positions, and a reader that sees a
// position has seen every lower one: no acknowledgement can skip a
// message that commits late.
func TestToDevicePositionsInCommitOrder(t *testing.T) {
	s, _ := openToDevice(t)
	ctx := context.Background()
	const senders, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if _, _, err := s.PutToDevice(ctx, sender(int64(i), fmt.Sprint(j)), []storage.ToDevice{msg("@a:x", "A", fmt.Sprint(i, "/", j))}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Read while they write: every snapshot is a gap-free prefix.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		max, err := s.MaxToDevicePos(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ToDeviceFor(ctx, "@a:x", "A", 0, max, senders*each)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(got)) != max {
			t.Fatalf("at position %d the inbox holds %d messages", max, len(got))
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if max, _ := s.MaxToDevicePos(ctx); max != senders*each {
		t.Fatalf("final position %d, want %d", max, senders*each)
	}
}
