package adminapi

import (
	"context"
	"errors"
	"testing"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/testdb"
	mediastorage "github.com/rohrpost/rohrpost/mediaapi/storage"
)

// The admin API starts before the media API has made its tables (separate
// services); media listings answer 503 until then, and work after.
func TestLazyMediaReader(t *testing.T) {
	ctx := context.Background()
	db := testdb.Open(t)
	l := &lazyMediaReader{db: db}
	for name, call := range map[string]func() error{
		"Get": func() error { _, err := l.Get(ctx, "localhost", "abc"); return err },
		"UserMedia": func() error {
			_, _, err := l.UserMedia(ctx, mediastorage.UserMediaQuery{Uploader: "@a:localhost", Limit: 10})
			return err
		},
		"UploaderStatistics": func() error { _, err := l.UploaderStatistics(ctx, 0, 0); return err },
	} {
		var me *mxhttp.Error
		if err := call(); !errors.As(err, &me) || me.Status != 503 {
			t.Fatalf("%s before the media API migrated: %v", name, err)
		}
	}
	if _, err := mediastorage.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(ctx, "localhost", "abc"); !errors.Is(err, mediastorage.ErrNotFound) {
		t.Fatalf("Get after: %v", err)
	}
	if media, total, err := l.UserMedia(ctx, mediastorage.UserMediaQuery{Uploader: "@a:localhost", Limit: 10}); err != nil || total != 0 || len(media) != 0 {
		t.Fatalf("UserMedia after: %v %d %v", media, total, err)
	}
}
