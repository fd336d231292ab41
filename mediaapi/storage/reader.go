package storage

import (
	"context"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Reader is the read-only view of the media tables the admin API reads
// its listings from (decision 0020); every change goes through the media
// API.
type Reader interface {
	Get(ctx context.Context, serverName, mediaID string) (*Media, error)
	UserMedia(ctx context.Context, q UserMediaQuery) ([]Media, int, error)
	UploaderStatistics(ctx context.Context, fromTS, untilTS int64) ([]UploaderStats, error)
}

var _ Reader = (*Store)(nil)

// OpenReader returns a Reader. It never migrates: the media API owns the
// tables and alone changes their schema.
func OpenReader(ctx context.Context, db *sqlutil.DB) (Reader, error) {
	if err := db.CheckMigrated(ctx, "mediaapi", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}
