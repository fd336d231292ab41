package userexport

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/internal/testdb"
	mediastorage "github.com/rohrpost/rohrpost/mediaapi/storage"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	usstorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// countingWriter counts what the archive writes, and keeps nothing.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}

// schema makes the tables the export reads, as their owners do.
func schema(t *testing.T, db *sqlutil.DB) {
	t.Helper()
	ctx := context.Background()
	if _, err := usstorage.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := rsstorage.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := mediastorage.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
}

// TestExportStreams: the archive of a user with events far larger than
// the memory the export may take is written while it is read: the heap
// stays a fraction of the events' size, and the archive holds them all.
func TestExportStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 24 MB of events")
	}
	db := testdb.Open(t)
	schema(t, db)
	ctx := context.Background()
	const user = "@viel:example.org"
	const events, size = 6000, 4096
	err := db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO accounts (user_id, created_ts) VALUES ($1, 1)`, user); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO rooms (room_nid, room_id, room_version) VALUES (1, '!r:example.org', '10')`); err != nil {
			return err
		}
		filler := make([]byte, size/2)
		for i := 0; i < events; i++ {
			_, _ = rand.Read(filler)
			pdu := fmt.Sprintf(`{"type":"m.room.message","sender":%q,"room_id":"!r:example.org","content":{"body":%q}}`, user, hex.EncodeToString(filler))
			if _, err := tx.Exec(`INSERT INTO events (event_nid, room_nid, event_id, stream_pos, type, sender, depth, origin_ts, snapshot_before, pdu, client)
				VALUES ($1, 1, $2, $1, 'm.room.message', $3, $1, $1, 0, $4, $5)`, i+1, fmt.Sprintf("$e%d", i), user, []byte(pdu), []byte("{}")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	defer debug.SetGCPercent(debug.SetGCPercent(25))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	out := &countingWriter{}
	uid, _ := spec.NewUserID(user, true)
	err = (&Exporter{DB: db}).Write(ctx, out, *uid)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	total := int64(events * size)
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("events %d MB, archive %d MB, heap grew by %d MB", total>>20, out.n.Load()>>20, grew>>20)
	if grew > total/4 {
		t.Fatalf("the heap grew by %d MB exporting %d MB of events: the export does not stream", grew>>20, total>>20)
	}
	if out.n.Load() < total/4 {
		t.Fatalf("the archive has %d bytes for %d bytes of events", out.n.Load(), total)
	}
}

// TestExportSections: a small account's archive reads back whole, with
// the stored event bytes unchanged and a missing upload file explained.
func TestExportSections(t *testing.T) {
	db := testdb.Open(t)
	schema(t, db)
	ctx := context.Background()
	const user = "@klein:example.org"
	pdu := []byte(`{"type":"m.room.message", "sender":"@klein:example.org","content":{"body":"Leerzeichen bleiben"}}`)
	err := db.Write(ctx, func(tx *sql.Tx) error {
		for _, q := range []struct {
			query string
			args  []any
		}{
			{`INSERT INTO accounts (user_id, created_ts, deactivated, erased) VALUES ($1, 5, TRUE, TRUE)`, []any{user}},
			{`INSERT INTO rooms (room_nid, room_id, room_version) VALUES (1, '!r:example.org', '10')`, nil},
			{`INSERT INTO events (event_nid, room_nid, event_id, stream_pos, type, sender, depth, origin_ts, snapshot_before, pdu, client)
				VALUES (1, 1, '$m', 1, 'm.room.message', $1, 1, 1, 0, $2, $3)`, []any{user, pdu, []byte("{}")}},
			{`INSERT INTO media (server_name, media_id, sha256, content_type, filename, size, uploader, created_ts)
				VALUES ('example.org', 'abc', 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', 'text/plain', 'weg.txt', 3, $1, 1)`, []any{user}},
		} {
			if _, err := tx.Exec(q.query, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	uid, _ := spec.NewUserID(user, true)
	if err := (&Exporter{DB: db, Media: StoreDir(t.TempDir())}).Write(ctx, &buf, *uid); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	tests := []struct {
		file, want string
	}{
		{"events.jsonl", string(pdu) + "\n"},
		{"account.json", `"erased": true`},
		{"media.json", `"missing": "the file could not be read`},
		{"erasure.json", `"file": "events.jsonl"`},
		{"push_rules.json", "null"},
		{"devices.json", "[\n\n]"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, ok := files[tc.file]
			if !ok || !bytes.Contains(got, []byte(tc.want)) {
				t.Fatalf("%s = %s, want it to hold %q", tc.file, got, tc.want)
			}
		})
	}
	other, _ := spec.NewUserID("@niemand:example.org", true)
	if err := (&Exporter{DB: db}).Write(ctx, io.Discard, *other); err == nil {
		t.Fatal("exported an unknown user")
	}
}
