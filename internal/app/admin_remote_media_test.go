package app_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// The media admin API on cached copies of another server's media: info,
// a quarantine that also keeps the copy from being fetched again, and
// the purge of the cache, after which the media is fetched anew.
func TestAdminAPIRemoteMedia(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	a, b := servers[0], servers[1]
	ctx := context.Background()
	var fetches atomic.Int32
	aRoutes := a.App.Handler()
	a.Handle("GET /_matrix/federation/v1/media/download/{mediaId}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		aRoutes.ServeHTTP(w, r)
	}))
	alice := a.Register(t, "alice")
	bob := b.Register(t, "bob")
	admin := registerAdmin(t, b, "remoteadmin")
	up, err := alice.UploadBytesWithName(ctx, pngOf(t, 9), "image/png", "fern.png")
	if err != nil {
		t.Fatal(err)
	}
	mxc := string(a.ServerName) + "/" + up.ContentURI.FileID
	viaB := func() int {
		t.Helper()
		return fetchMedia(t, b.URL, "/_matrix/client/v1/media/download/"+mxc, bob.AccessToken).status
	}
	if got := viaB(); got != 200 || fetches.Load() != 1 {
		t.Fatalf("first download via B: %d, %d fetches", got, fetches.Load())
	}
	status, body := adminCall(t, admin, "GET", "/v1/media/"+mxc, nil)
	info, _ := body["media_info"].(map[string]any)
	if status != 200 || info["media_origin"] != string(a.ServerName) || info["user_id"] != nil || info["safe_from_quarantine"] != nil {
		t.Fatalf("info: %d %v", status, body)
	}
	if status, body := adminCall(t, admin, "DELETE", "/v1/media/"+mxc, nil); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
		t.Fatalf("deleting remote media one by one: %d %v", status, body)
	}

	if status, _ := adminCall(t, admin, "POST", "/v1/media/quarantine/"+mxc, nil); status != 200 {
		t.Fatal("quarantine:", status)
	}
	if got := viaB(); got != 404 || fetches.Load() != 1 {
		t.Fatalf("quarantined copy: %d, %d fetches", got, fetches.Load())
	}
	// Quarantined copies stay in the cache.
	before := fmt.Sprint(time.Now().Add(time.Minute).UnixMilli())
	if status, body := adminCall(t, admin, "POST", "/v1/purge_media_cache?before_ts="+before, nil); status != 200 || body["deleted"] != float64(0) {
		t.Fatalf("purge with the copy quarantined: %d %v", status, body)
	}
	if status, _ := adminCall(t, admin, "POST", "/v1/media/unquarantine/"+mxc, nil); status != 200 {
		t.Fatal("unquarantine:", status)
	}
	if got := viaB(); got != 200 || fetches.Load() != 1 {
		t.Fatalf("unquarantined copy: %d, %d fetches", got, fetches.Load())
	}
	if status, body := adminCall(t, admin, "POST", "/v1/purge_media_cache?before_ts="+before, nil); status != 200 || body["deleted"] != float64(1) {
		t.Fatalf("purge: %d %v", status, body)
	}
	if status, _ := adminCall(t, admin, "GET", "/v1/media/"+mxc, nil); status != 404 {
		t.Fatal("info after the purge:", status)
	}
	if got := viaB(); got != 200 || fetches.Load() != 2 {
		t.Fatalf("after the purge: %d, %d fetches", got, fetches.Load())
	}
	for _, q := range []string{"", "?before_ts=-1", "?before_ts=gestern"} {
		if status, body := adminCall(t, admin, "POST", "/v1/purge_media_cache"+q, nil); status != 400 {
			t.Errorf("purge%s: %d %v", q, status, body)
		}
	}
}
