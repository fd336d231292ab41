package adminapi

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	mediastorage "github.com/rohrpost/rohrpost/mediaapi/storage"
)

// lazyMediaReader is the media tables' read-only view, opened on first
// use instead of at start: in separate services the media API, which
// alone migrates its tables, may start after the client API processes
// that host the admin API (scripts/services.sh starts it last), and the
// admin API must not keep them from starting. Until the tables are
// there, media listings answer 503.
type lazyMediaReader struct {
	db *sqlutil.DB
	mu sync.Mutex
	r  mediastorage.Reader
}

var _ mediastorage.Reader = (*lazyMediaReader)(nil)

func (l *lazyMediaReader) reader(ctx context.Context) (mediastorage.Reader, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.r != nil {
		return l.r, nil
	}
	r, err := mediastorage.OpenReader(ctx, l.db)
	if errors.Is(err, sqlutil.ErrSchemaBehind) {
		return nil, &mxhttp.Error{Status: http.StatusServiceUnavailable, Code: "M_UNKNOWN",
			Msg: "The media API has not prepared its tables yet"}
	}
	if err != nil {
		return nil, err
	}
	l.r = r
	return r, nil
}

func (l *lazyMediaReader) Get(ctx context.Context, serverName, mediaID string) (*mediastorage.Media, error) {
	r, err := l.reader(ctx)
	if err != nil {
		return nil, err
	}
	return r.Get(ctx, serverName, mediaID)
}

func (l *lazyMediaReader) UserMedia(ctx context.Context, q mediastorage.UserMediaQuery) ([]mediastorage.Media, int, error) {
	r, err := l.reader(ctx)
	if err != nil {
		return nil, 0, err
	}
	return r.UserMedia(ctx, q)
}

func (l *lazyMediaReader) UploaderStatistics(ctx context.Context, fromTS, untilTS int64) ([]mediastorage.UploaderStats, error) {
	r, err := l.reader(ctx)
	if err != nil {
		return nil, err
	}
	return r.UploaderStatistics(ctx, fromTS, untilTS)
}
