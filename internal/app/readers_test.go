package app_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/app"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// The sync and client APIs read the roomserver's and the userapi's tables
// through a read-only view that never migrates (issue 10): a process of
// theirs started on a database the owners have not brought to this
// version refuses to start, says which component to start first, and
// changes nothing; once the owners have migrated, it starts.
func TestReadersNeverMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := apptest.Config(t.TempDir())
	db, err := sqlutil.Open(sqlutil.Options{Type: cfg.Database.Type, Path: cfg.Database.Path, URI: cfg.Database.URI})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	migrated := func(component string) int {
		t.Helper()
		var n int
		if err := db.Read.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE component = $1`, component).Scan(&n); err != nil {
			return 0 // no schema_migrations table yet
		}
		return n
	}
	start := func(components ...string) error {
		t.Helper()
		a, err := app.New(ctx, cfg, app.Options{Components: components})
		if err == nil {
			a.Close()
		}
		return err
	}

	// A fresh database: the readers start before the owners.
	for _, comp := range []string{app.SyncAPI, app.ClientAPI} {
		err := start(comp)
		if !errors.Is(err, sqlutil.ErrSchemaBehind) || !strings.Contains(err.Error(), "start (upgrade) the roomserver") {
			t.Fatalf("%s on a fresh database: %v, want a schema error naming the roomserver", comp, err)
		}
		t.Logf("%s: %v", comp, err)
	}
	if n := migrated("roomserver") + migrated("userapi"); n != 0 {
		t.Fatalf("the readers applied %d migrations of the roomserver and userapi", n)
	}

	// The owners migrate; the readers start.
	if err := start(app.RoomServer, app.UserAPI); err != nil {
		t.Fatal(err)
	}
	if err := start(app.SyncAPI, app.ClientAPI); err != nil {
		t.Fatalf("readers after the owners: %v", err)
	}

	// An older userapi schema (its newest migration not applied): the
	// sync API refuses and names the migration and the owner.
	var newest string
	if err := db.Read.QueryRow(`SELECT MAX(name) FROM schema_migrations WHERE component = 'userapi'`).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM schema_migrations WHERE component = 'userapi' AND name = $1`, newest)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err = start(app.SyncAPI)
	if !errors.Is(err, sqlutil.ErrSchemaBehind) || !strings.Contains(err.Error(), newest) || !strings.Contains(err.Error(), "start (upgrade) the userapi") {
		t.Fatalf("sync API on an older userapi schema: %v", err)
	}
	var n int
	if err := db.Read.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE component = 'userapi' AND name = $1`, newest).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the sync API recorded %s: %d %v", newest, n, err)
	}
}
