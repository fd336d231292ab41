package bundesmessenger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/testdb"
)

// TestMaintenanceDocument: the file's document until an admin sets one,
// which every Maintenance on the same database serves (separate
// processes); a broken one is refused and changes nothing; Reset brings
// the file's back. Runs on PostgreSQL when ROHRPOST_TEST_POSTGRES is set.
func TestMaintenanceDocument(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "maintenance.json")
	fromFile := `{"maintenance": [{"type": "MAINTENANCE", "start_time": "2026-03-02T20:00:00Z", "end_time": "2026-03-02T22:00:00Z"}]}`
	if err := os.WriteFile(file, []byte(fromFile), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.BundesMessenger.MaintenanceFile = file
	db := testdb.Open(t)
	one, err := NewMaintenance(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewMaintenance(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	expect := func(m *Maintenance, want string) {
		t.Helper()
		got, err := m.Document(ctx)
		if err != nil || string(got) != want {
			t.Fatalf("document = %q, %v; want %q", got, err, want)
		}
	}
	expect(one, fromFile)
	set := `{"maintenance": [{"type": "ADHOC_MESSAGE", "description": "Hinweis"}]}`
	if err := one.Set(ctx, []byte(set), "@admin:test"); err != nil {
		t.Fatal(err)
	}
	expect(other, set)
	for _, bad := range []string{`[]`, `{"m": [{"type": "OUTAGE"}]}`, `{"versions": 1}`} {
		if err := other.Set(ctx, []byte(bad), "@admin:test"); !errors.Is(err, ErrInvalidDocument) {
			t.Fatalf("Set(%s) = %v, want ErrInvalidDocument", bad, err)
		}
	}
	expect(one, set)
	if err := other.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	expect(one, fromFile)

	cfg.BundesMessenger.MaintenanceFile = ""
	none, err := NewMaintenance(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := none.Document(ctx); err != nil || doc != nil {
		t.Fatalf("without file or admin document: %q, %v", doc, err)
	}
	if err := os.WriteFile(file, []byte(`{"maintenance": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.BundesMessenger.MaintenanceFile = file
	if _, err := NewMaintenance(ctx, cfg, db); err == nil {
		t.Fatal("a broken maintenance file was taken")
	}
}
