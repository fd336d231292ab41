package app_test

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"net/http"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// BenchmarkUpload measures 1 MiB uploads (each a new content: hashed,
// written, renamed into place).
func BenchmarkUpload(b *testing.B) {
	srv := apptest.Start(b)
	alice := srv.Register(b, "alice")
	ctx := context.Background()
	data := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(data, fmt.Sprintf("%08d", i)) // a new content each time
		if _, err := alice.UploadBytes(ctx, data, "application/octet-stream"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThumbnail measures making a 640-pixel thumbnail of a
// 2-megapixel JPEG, each of a distinct upload and none made ahead, so that
// no request finds it ready.
func BenchmarkThumbnail(b *testing.B) {
	cfg := apptest.Config(b.TempDir())
	cfg.ThumbnailSizes = nil // none made ahead
	srv := apptest.StartWith(b, cfg)
	alice := srv.Register(b, "alice")
	ctx := context.Background()
	var photo bytes.Buffer
	if err := jpeg.Encode(&photo, testImage(1920, 1080), nil); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, b.N)
	for i := range ids {
		raw := append(bytes.Clone(photo.Bytes()), byte(i), byte(i>>8), byte(i>>16)) // a distinct content
		up, err := alice.UploadBytes(ctx, raw, "image/jpeg")
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = up.ContentURI.FileID
	}
	srv.App.Media.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", srv.URL+"/_matrix/client/v1/media/thumbnail/localhost/"+ids[i]+"?width=640&height=480&method=scale", nil)
		req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("thumbnail: %v %v", resp, err)
		}
		resp.Body.Close()
	}
}
