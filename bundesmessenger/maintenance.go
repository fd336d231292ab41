package bundesmessenger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// ErrInvalidDocument is a maintenance document that is not in the apps'
// shape (config.ValidateMaintenance); it is never stored.
var ErrInvalidDocument = errors.New("invalid maintenance document")

// Maintenance is the document at /_matrix/cmaintenance: the one an
// admin set through the admin API, else bundesmessenger.maintenance_file
// as read at start, else none.
type Maintenance struct {
	store *Store
	// file is maintenance_file's content, checked at start.
	file []byte
}

// NewMaintenance reads the configured file (the config check refused a
// broken one already; it is read again here in case it changed since)
// and opens the table an admin's document is kept in.
func NewMaintenance(ctx context.Context, cfg *config.Config, db *sqlutil.DB) (*Maintenance, error) {
	store, err := OpenStore(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("bundesmessenger storage: %w", err)
	}
	m := &Maintenance{store: store}
	if path := cfg.BundesMessenger.MaintenanceFile; path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("bundesmessenger.maintenance_file: %w", err)
		}
		if err := config.ValidateMaintenance(raw); err != nil {
			return nil, fmt.Errorf("bundesmessenger.maintenance_file %s: %w", path, err)
		}
		m.file = raw
	}
	return m, nil
}

// Document is the document served now, nil when there is none.
func (m *Maintenance) Document(ctx context.Context) (json.RawMessage, error) {
	doc, err := m.store.document(ctx, documentMaintenance)
	if err != nil || doc != nil {
		return doc, err
	}
	return m.file, nil
}

// Set replaces the document for every process until Reset.
func (m *Maintenance) Set(ctx context.Context, doc []byte, by string) error {
	if err := config.ValidateMaintenance(doc); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidDocument, err)
	}
	return m.store.setDocument(ctx, documentMaintenance, doc, by)
}

// Reset drops the admin's document: the file's is served again.
func (m *Maintenance) Reset(ctx context.Context) error {
	return m.store.deleteDocument(ctx, documentMaintenance)
}
