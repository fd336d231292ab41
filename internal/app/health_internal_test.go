package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// TestReadinessNamesTheDatabase: a database that does not answer makes
// the process unready, with the reason. (health_test.go covers NATS.)
func TestReadinessNamesTheDatabase(t *testing.T) {
	t.Parallel()
	db, err := sqlutil.Open(sqlutil.Options{Type: "sqlite", Path: filepath.Join(t.TempDir(), "h.db")})
	if err != nil {
		t.Fatal(err)
	}
	a := &App{DB: db}
	if err := a.checkDependencies(context.Background()); err != nil {
		t.Fatalf("open database: %v", err)
	}
	_ = db.Close()
	if err := a.checkDependencies(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "database:") {
		t.Fatalf("closed database: err = %v, want one naming the database", err)
	}
}
