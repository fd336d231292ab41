package app_test

import (
	"bytes"
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
)

// TestRetentionMedia: media_retention. B's cached copy of A's media is
// removed once not served for remote_media_lifetime (the next download
// fetches it from A again); A's own uploads go once not served for
// local_media_lifetime, except a user's avatar.
func TestRetentionMedia(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	a, b := servers[0], servers[1]
	ctx := context.Background()
	a.App.Config.MediaRetention = config.MediaRetention{LocalMediaLifetime: config.Duration(30 * day)}
	b.App.Config.MediaRetention = config.MediaRetention{RemoteMediaLifetime: config.Duration(90 * day)}
	a.Restart(t)
	b.Restart(t)
	var fetches atomic.Int32
	aRoutes := a.App.Handler()
	a.Handle("GET /_matrix/federation/v1/media/download/{mediaId}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		aRoutes.ServeHTTP(w, r)
	}))
	alice, bob := a.Register(t, "alice"), b.Register(t, "bob")

	minutes := []byte("Niederschrift der Besprechung")
	up, err := alice.UploadBytesWithName(ctx, minutes, "text/plain", "Niederschrift.txt")
	if err != nil {
		t.Fatal(err)
	}
	avatar, err := alice.UploadBytesWithName(ctx, testPNG(t, 8, 8), "image/png", "ich.png")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SetAvatarURL(ctx, avatar.ContentURI); err != nil {
		t.Fatal(err)
	}
	viaB := func() mediaAnswer {
		return fetchMedia(t, b.URL, "/_matrix/client/v1/media/download/"+string(a.ServerName)+"/"+up.ContentURI.FileID, bob.AccessToken)
	}
	atA := func(fileID string) mediaAnswer {
		return fetchMedia(t, a.URL, "/_matrix/client/v1/media/download/"+string(a.ServerName)+"/"+fileID, alice.AccessToken)
	}
	if got := viaB(); got.status != 200 || !bytes.Equal(got.body, minutes) || fetches.Load() != 1 {
		t.Fatalf("first download via B: %d, %d fetches", got.status, fetches.Load())
	}
	cached := func() int {
		var n int
		if err := b.App.DB.Read.QueryRow(`SELECT COUNT(*) FROM media WHERE server_name = $1`, string(a.ServerName)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// 89 days on, B keeps its copy; 91 days on it is gone.
	retentionAt(t, b, time.Now().Add(89*day)).RunDue(ctx)
	if n := cached(); n != 1 {
		t.Fatalf("B's cache holds %d copies before the lifetime, want 1", n)
	}
	if err := b.App.DB.Write(ctx, resetJobs); err != nil {
		t.Fatal(err)
	}
	retentionAt(t, b, time.Now().Add(91*day)).RunDue(ctx)
	if n := cached(); n != 0 {
		t.Fatalf("B's cache holds %d copies after the lifetime, want none", n)
	}
	if got := viaB(); got.status != 200 || !bytes.Equal(got.body, minutes) || fetches.Load() != 2 {
		t.Fatalf("download via B after the purge: %d, %d fetches (want a second fetch from A)", got.status, fetches.Load())
	}

	// A: 31 days on, the upload nobody fetched since goes, the avatar stays.
	retentionAt(t, a, time.Now().Add(31*day)).RunDue(ctx)
	if got := atA(up.ContentURI.FileID); got.status != 404 {
		t.Fatalf("A still serves its old upload: %d", got.status)
	}
	if got := atA(avatar.ContentURI.FileID); got.status != 200 {
		t.Fatalf("A's avatar went with the old media: %d", got.status)
	}
}
