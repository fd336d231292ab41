package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

func TestMediaUploadAndDownload(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.MaxUploadSize = config.ByteSize(1 << 20)
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	payload := make([]byte, 300<<10)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	up, err := alice.UploadBytesWithName(ctx, payload, "video/mp4", "Sitzung 3.mp4")
	if err != nil {
		t.Fatal(err)
	}
	mxc := up.ContentURI
	if mxc.Homeserver != "localhost" || mxc.FileID == "" {
		t.Fatalf("content uri %v", mxc)
	}
	// The same bytes again: a new media id, one file on disk.
	again, err := alice.UploadBytesWithName(ctx, payload, "video/mp4", "Kopie.mp4")
	if err != nil || again.ContentURI.FileID == mxc.FileID {
		t.Fatalf("second upload %v (%v)", again, err)
	}

	get := func(path, token string, header map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	path := "/_matrix/client/v1/media/download/localhost/" + mxc.FileID
	resp := get(path, alice.AccessToken, nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(body, payload) {
		t.Fatalf("download: %d, %d bytes, identical %v", resp.StatusCode, len(body), bytes.Equal(body, payload))
	}
	h := resp.Header
	if h.Get("Content-Type") != "video/mp4" || !strings.HasPrefix(h.Get("Content-Disposition"), "inline; filename*=utf-8''Sitzung%203.mp4") ||
		!strings.Contains(h.Get("Content-Security-Policy"), "sandbox") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers %v", h)
	}
	// Seeking in a video: a range of bytes.
	resp = get(path, alice.AccessToken, map[string]string{"Range": "bytes=1000-1999"})
	part, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, payload[1000:2000]) ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 1000-1999/%d", len(payload)) {
		t.Fatalf("range: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(part))
	}
	// A file name in the path wins; an unsafe type is offered as a download.
	html, err := alice.UploadBytesWithName(ctx, []byte("<script>alert(1)</script>"), "text/html", "seite.html")
	if err != nil {
		t.Fatal(err)
	}
	resp = get("/_matrix/client/v1/media/download/localhost/"+html.ContentURI.FileID+"/anders.html", alice.AccessToken, nil)
	if d := resp.Header.Get("Content-Disposition"); d != "attachment; filename*=utf-8''anders.html" {
		t.Fatalf("disposition of html: %q", d)
	}

	tests := []struct {
		name, path, token string
		status            int
	}{
		{"no token", path, "", 401},
		{"unknown media", "/_matrix/client/v1/media/download/localhost/nope", alice.AccessToken, 404},
		{"media of a server that cannot be reached", "/_matrix/client/v1/media/download/elsewhere.example/x", alice.AccessToken, 502},
		{"legacy unauthenticated download is frozen", "/_matrix/media/v3/download/localhost/" + mxc.FileID, "", 404},
	}
	for _, tc := range tests {
		if resp := get(tc.path, tc.token, nil); resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	// Identical uploads share their file: two contents, two files.
	files := 0
	_ = filepath.WalkDir(filepath.Join(cfg.MediaStorePath, "content"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files != 2 {
		t.Errorf("%d files stored for two distinct contents", files)
	}
	var conf map[string]any
	if _, err := alice.MakeRequest(ctx, "GET", srv.URL+"/_matrix/client/v1/media/config", nil, &conf); err != nil || conf["m.upload.size"] != float64(1<<20) {
		t.Fatalf("config %v (%v)", conf, err)
	}
	// Too large.
	_, err = alice.UploadBytesWithName(ctx, make([]byte, 2<<20), "application/octet-stream", "gross.bin")
	if httpErr, ok := err.(mautrix.HTTPError); !ok || httpErr.Response == nil || httpErr.Response.StatusCode != 413 {
		t.Fatalf("oversized upload: %v", err)
	}
}

// Asynchronous upload: a media id first, its content later; a download in
// between waits for it. Quotas stop a user's uploads.
func TestMediaAsyncUploadAndQuota(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.MediaQuotaPerUser = config.ByteSize(100 << 10)
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	var created struct {
		ContentURI string `json:"content_uri"`
		Expires    int64  `json:"unused_expires_at"`
	}
	if _, err := alice.MakeRequest(ctx, "POST", srv.URL+"/_matrix/media/v1/create", struct{}{}, &created); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(created.ContentURI, "mxc://localhost/")
	if id == created.ContentURI || created.Expires == 0 {
		t.Fatalf("create: %+v", created)
	}
	download := func(timeoutMS int) int {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/_matrix/client/v1/media/download/localhost/%s?timeout_ms=%d", srv.URL, id, timeoutMS), nil)
		req.Header.Set("Authorization", "Bearer "+bob.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := download(0); status != http.StatusGatewayTimeout {
		t.Fatalf("download before the content: %d, want 504", status)
	}
	put := func(cli *mautrix.Client, body []byte) int {
		req, _ := http.NewRequest("PUT", srv.URL+"/_matrix/media/v3/upload/localhost/"+id, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waiting := make(chan int, 1)
	go func() { waiting <- download(10000) }()
	if status := put(bob, []byte("fremd")); status != 404 {
		t.Fatalf("another user's media id: %d, want 404", status)
	}
	if status := put(alice, []byte("später")); status != 200 {
		t.Fatalf("async upload: %d", status)
	}
	if status := <-waiting; status != 200 {
		t.Fatalf("the waiting download got %d", status)
	}
	if status := put(alice, []byte("nochmal")); status != 409 {
		t.Fatalf("overwriting: %d, want 409", status)
	}
	// 100 KiB quota: the first 80 KiB fit, the next 80 do not.
	if _, err := alice.UploadBytes(ctx, make([]byte, 80<<10), "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	_, err := alice.UploadBytes(ctx, bytes.Repeat([]byte{1}, 80<<10), "application/octet-stream")
	httpErr, ok := err.(mautrix.HTTPError)
	if !ok || httpErr.Response.StatusCode != 403 || httpErr.RespError == nil || httpErr.RespError.ErrCode != "M_USER_LIMIT_EXCEEDED" ||
		httpErr.RespError.ExtraData["info_uri"] == nil {
		t.Fatalf("over the quota: %v", err)
	}
}

// The admin API's deletion: a media id goes; its file goes with the last
// media id that uses the content.
func TestMediaDeletion(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	var pngBytes bytes.Buffer
	if err := png.Encode(&pngBytes, testImage(200, 200)); err != nil {
		t.Fatal(err)
	}
	first, err := alice.UploadBytes(ctx, pngBytes.Bytes(), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	second, err := alice.UploadBytes(ctx, pngBytes.Bytes(), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	srv.App.Media.Stop()
	count := func(dir string) int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(cfg.MediaStorePath, dir), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	status := func(id string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/_matrix/client/v1/media/download/localhost/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if err := srv.App.Media.Delete(ctx, "localhost", first.ContentURI.FileID); err != nil {
		t.Fatal(err)
	}
	if status(first.ContentURI.FileID) != 404 || status(second.ContentURI.FileID) != 200 || count("content") != 1 {
		t.Fatalf("after deleting one of two: %d %d, %d files", status(first.ContentURI.FileID), status(second.ContentURI.FileID), count("content"))
	}
	if err := srv.App.Media.Delete(ctx, "localhost", second.ContentURI.FileID); err != nil {
		t.Fatal(err)
	}
	if count("content") != 0 || count("thumbnails") != 0 {
		t.Fatalf("after deleting both: %d files, %d thumbnails", count("content"), count("thumbnails"))
	}
	if err := srv.App.Media.Delete(ctx, "localhost", "nope"); err == nil {
		t.Fatal("deleting unknown media succeeded")
	}
}
