package sqlutil

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// ErrSchemaBehind is wrapped by CheckMigrated's error when the database
// lacks migrations the code expects.
var ErrSchemaBehind = fmt.Errorf("database schema is older than this code expects")

// CheckMigrated is the readers' side of Migrate: it changes nothing, and
// fails unless every *.sql file in dir of fsys is recorded in
// schema_migrations for component, that is, unless the component that
// owns the tables (and alone migrates them) has brought the database to
// the schema this code reads. Migrations the database has and the code
// does not know (a newer owner) are fine: they only ever add.
func (db *DB) CheckMigrated(ctx context.Context, component string, fsys fs.FS, dir string) error {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return err
	}
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, dir+"/")
	}
	sort.Strings(names)
	applied := map[string]bool{}
	rows, err := db.Read.QueryContext(ctx, `SELECT name FROM schema_migrations WHERE component = $1`, component)
	if err == nil {
		for rows.Next() {
			var n string
			if err = rows.Scan(&n); err != nil {
				break
			}
			applied[n] = true
		}
		if err == nil {
			err = rows.Err()
		}
		rows.Close()
	}
	if err != nil && len(applied) == 0 {
		// Most likely no schema_migrations table: nothing was migrated.
		if ok, terr := db.hasTable(ctx, "schema_migrations"); terr == nil && !ok {
			err = nil
		} else {
			return fmt.Errorf("read the %s schema version: %w", component, err)
		}
	}
	var missing []string
	for _, n := range names {
		if !applied[n] {
			missing = append(missing, n)
		}
	}
	what := "lack migration(s) " + strings.Join(missing, ", ")
	if len(applied) == 0 {
		what = "do not exist yet"
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: the %s tables %s. Only the %s migrates its tables: start (upgrade) the %s with this version first, then the components that read its tables (docs/deploy.md, \"Upgrading\")",
			ErrSchemaBehind, component, what, component, component)
	}
	return nil
}

// hasTable tells whether a table exists.
func (db *DB) hasTable(ctx context.Context, name string) (bool, error) {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	if db.Dialect == Postgres {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	var n int
	err := db.Read.QueryRowContext(ctx, q, name).Scan(&n)
	return n > 0, err
}
