package sqlutil_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/internal/testdb"
)

func openTestDB(t *testing.T) *sqlutil.DB {
	t.Helper()
	db := testdb.Open(t)
	if err := db.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

// A failing writer in a shared batch loses only its own changes.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	results := make([]error, 50)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = db.Write(ctx, func(tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO kv (k, v) VALUES ($1, $2)`, fmt.Sprint(i), "x"); err != nil {
					return err
				}
				if i%5 == 0 {
					return errBoom
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	for i, err := range results {
		want := i%5 == 0
		if (err != nil) != want || (want && !errors.Is(err, errBoom)) {
			t.Fatalf("write %d: err = %v", i, err)
		}
	}
	var n int
	if err := db.Read.QueryRow(`SELECT COUNT(*) FROM kv`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 40 {
		t.Fatalf("%d rows committed, want 40", n)
	}
}

func TestSchemaPlaceholders(t *testing.T) {
	tests := []struct {
		dialect sqlutil.Dialect
		in      string
		want    string
	}{
		{sqlutil.SQLite, "id {serial}, b {blob}", "id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB"},
		{sqlutil.Postgres, "id {serial}, b {blob}", "id BIGSERIAL PRIMARY KEY, b BYTEA"},
	}
	for _, tc := range tests {
		t.Run(tc.dialect.String(), func(t *testing.T) {
			if got := (&sqlutil.DB{Dialect: tc.dialect}).Schema(tc.in); got != tc.want {
				t.Fatalf("Schema = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInList(t *testing.T) {
	if got := sqlutil.InList(3, 3); got != "$3,$4,$5" {
		t.Fatalf("InList = %q", got)
	}
}
