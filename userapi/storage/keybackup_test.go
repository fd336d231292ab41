package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// twoProcesses opens two stores on one database, each with its own
// connections and group committer, as two userapi processes would.
func twoProcesses(t *testing.T, fn func(t *testing.T, a, b *Store)) {
	t.Helper()
	open := func(opts sqlutil.Options) *Store {
		db, err := sqlutil.Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return openStore(t, db)
	}
	t.Run("sqlite", func(t *testing.T) {
		opts := sqlutil.Options{Type: "sqlite", Path: filepath.Join(t.TempDir(), "test.db")}
		fn(t, open(opts), open(opts))
	})
	if uri := os.Getenv("ROHRPOST_TEST_POSTGRES"); uri != "" {
		t.Run("postgres", func(t *testing.T) {
			opts := sqlutil.Options{Type: "postgres", URI: postgresSchemaURI(t, uri), MaxOpenConns: 4}
			fn(t, open(opts), open(opts))
		})
	}
}

// better is the spec's replacement rule (userapi.betterBackupKey; the
// store takes it as a parameter).
func better(old, new BackupKey) bool {
	if old.IsVerified != new.IsVerified {
		return new.IsVerified
	}
	if old.FirstMessageIndex != new.FirstMessageIndex {
		return new.FirstMessageIndex < old.FirstMessageIndex
	}
	return new.ForwardedCount < old.ForwardedCount
}

func TestBackupVersionsAndKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const u = "@a:x"
		if _, _, err := s.PutBackupKeys(ctx, u, 1, nil, better); !errors.Is(err, ErrNotFound) {
			t.Fatalf("keys without a backup: %v, want ErrNotFound", err)
		}
		v1, err := s.CreateBackupVersion(ctx, u, "alg", []byte(`{}`))
		if err != nil || v1 != 1 {
			t.Fatalf("first version %d (%v)", v1, err)
		}
		key := BackupKey{RoomID: "!r:x", SessionID: "s", FirstMessageIndex: 3, SessionData: []byte(`"a"`)}
		count, etag1, err := s.PutBackupKeys(ctx, u, 1, []BackupKey{key}, better)
		if err != nil || count != 1 {
			t.Fatalf("put: count %d (%v)", count, err)
		}
		worse := key
		worse.FirstMessageIndex, worse.SessionData = 4, []byte(`"worse"`)
		if _, etag, err := s.PutBackupKeys(ctx, u, 1, []BackupKey{worse}, better); err != nil || etag != etag1 {
			t.Fatalf("a worse key changed the etag: %d -> %d (%v)", etag1, etag, err)
		}
		if _, err := s.CreateBackupVersion(ctx, u, "alg", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.PutBackupKeys(ctx, u, 1, []BackupKey{key}, better); !errors.Is(err, ErrWrongVersion) {
			t.Fatalf("keys for the old version: %v, want ErrWrongVersion", err)
		}
		if err := s.DeleteBackupVersion(ctx, u, 2); err != nil {
			t.Fatal(err)
		}
		// Version 1 is the newest live one again; version 2 stays gone.
		if _, _, err := s.PutBackupKeys(ctx, u, 2, []BackupKey{key}, better); !errors.Is(err, ErrWrongVersion) {
			t.Fatalf("keys for a deleted version: %v, want ErrWrongVersion", err)
		}
		if v, err := s.CreateBackupVersion(ctx, u, "alg", []byte(`{}`)); err != nil || v != 3 {
			t.Fatalf("a version after a deleted one is %d, want 3 (%v)", v, err)
		}
	})
}

// Two processes writing one user's backup at once: version numbers stay
// distinct, and of concurrent copies of one session the best one stays,
// whatever order they commit in.
func TestBackupConcurrentWriters(t *testing.T) {
	twoProcesses(t, func(t *testing.T, a, b *Store) {
		ctx := context.Background()
		const u = "@a:x"
		const creates = 10
		versions := make(chan int64, creates)
		errs := make(chan error, 64)
		var wg sync.WaitGroup
		for i := range creates {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := a
				if i%2 == 1 {
					s = b
				}
				v, err := s.CreateBackupVersion(ctx, u, "alg", []byte(`{}`))
				if err != nil {
					errs <- err
					return
				}
				versions <- v
			}()
		}
		wg.Wait()
		close(versions)
		select {
		case err := <-errs:
			t.Fatalf("concurrent creates: %v", err)
		default:
		}
		seen := map[int64]bool{}
		for v := range versions {
			if seen[v] {
				t.Fatalf("version %d handed out twice", v)
			}
			seen[v] = true
		}

		// Every copy of one session, from worst to best, sent at once.
		var copies []BackupKey
		for _, verified := range []bool{false, true} {
			for index := int64(2); index >= 0; index-- {
				for forwarded := int64(2); forwarded >= 0; forwarded-- {
					copies = append(copies, BackupKey{RoomID: "!r:x", SessionID: "s", IsVerified: verified,
						FirstMessageIndex: index, ForwardedCount: forwarded,
						SessionData: []byte(fmt.Sprintf(`"%v/%d/%d"`, verified, index, forwarded))})
				}
			}
		}
		for i, k := range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := a
				if i%2 == 1 {
					s = b
				}
				if _, _, err := s.PutBackupKeys(ctx, u, creates, []BackupKey{k}, better); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatalf("concurrent puts: %v", err)
		default:
		}
		got, err := a.BackupKeys(ctx, u, creates, "!r:x", "s")
		if err != nil || len(got) != 1 {
			t.Fatalf("keys: %v (%v)", got, err)
		}
		if string(got[0].SessionData) != `"true/0/0"` {
			t.Fatalf("the backup kept %s, want the best copy true/0/0", got[0].SessionData)
		}
	})
}
