package app_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io/fs"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	return img
}

// bombPNG is a PNG whose header announces width×height pixels; decoding
// it would need gigabytes.
func bombPNG(width, height uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(kind)
		b.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(kind))
		crc.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], width)
	binary.BigEndian.PutUint32(ihdr[4:], height)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

func TestThumbnails(t *testing.T) {
	cfg := apptest.Config(t.TempDir())
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	encode := map[string]func() []byte{
		"image/png": func() []byte { var b bytes.Buffer; _ = png.Encode(&b, testImage(1000, 500)); return b.Bytes() },
		"image/jpeg": func() []byte {
			var b bytes.Buffer
			_ = jpeg.Encode(&b, testImage(800, 600), nil)
			return b.Bytes()
		},
		"image/gif": func() []byte { var b bytes.Buffer; _ = gif.Encode(&b, testImage(200, 100), nil); return b.Bytes() },
	}
	uploads := map[string]string{}
	for ct, enc := range encode {
		up, err := alice.UploadBytes(ctx, enc(), ct)
		if err != nil {
			t.Fatal(err)
		}
		uploads[ct] = up.ContentURI.FileID
	}
	// The usual sizes were made right after each upload.
	srv.App.Media.Stop()
	made := 0
	_ = filepath.WalkDir(filepath.Join(cfg.MediaStorePath, "thumbnails"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			made++
		}
		return nil
	})
	if made != 3*4 {
		t.Errorf("%d thumbnails made ahead for three images, want 12", made)
	}
	thumb := func(id string, w, h int, method string) (*http.Response, image.Image) {
		t.Helper()
		url := fmt.Sprintf("%s/_matrix/client/v1/media/thumbnail/localhost/%s?width=%d&height=%d&method=%s", srv.URL, id, w, h, method)
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		img, _, _ := image.Decode(resp.Body)
		return resp, img
	}
	tests := []struct {
		ct           string
		w, h         int
		method       string
		wantW, wantH int
		wantType     string
	}{
		{"image/png", 96, 96, "scale", 96, 48, "image/png"},
		{"image/png", 96, 96, "crop", 96, 96, "image/png"},
		{"image/jpeg", 300, 200, "scale", 320, 240, "image/jpeg"},
		{"image/jpeg", 50, 50, "crop", 96, 96, "image/jpeg"},
		{"image/gif", 640, 640, "scale", 200, 100, "image/png"}, // never enlarged
	}
	for _, tc := range tests {
		for round := 0; round < 2; round++ { // made, then served from the cache
			resp, img := thumb(uploads[tc.ct], tc.w, tc.h, tc.method)
			if resp.StatusCode != 200 || img == nil {
				t.Fatalf("%s %dx%d %s: %d", tc.ct, tc.w, tc.h, tc.method, resp.StatusCode)
			}
			if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH || resp.Header.Get("Content-Type") != tc.wantType {
				t.Errorf("%s %dx%d %s: %dx%d %s, want %dx%d %s", tc.ct, tc.w, tc.h, tc.method, b.Dx(), b.Dy(),
					resp.Header.Get("Content-Type"), tc.wantW, tc.wantH, tc.wantType)
			}
		}
	}
	bomb, err := alice.UploadBytes(ctx, bombPNG(30000, 30000), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := thumb(bomb.ContentURI.FileID, 96, 96, "scale"); resp.StatusCode != 400 {
		t.Errorf("a 900-megapixel PNG: %d, want 400 without decoding it", resp.StatusCode)
	}
	doc, err := alice.UploadBytes(ctx, []byte("%PDF-1.4"), "application/pdf")
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := thumb(doc.ContentURI.FileID, 96, 96, "scale"); resp.StatusCode != 404 {
		t.Errorf("a PDF: %d, want 404", resp.StatusCode)
	}
	if resp, _ := thumb(uploads["image/png"], 0, 96, "scale"); resp.StatusCode != 400 {
		t.Errorf("width 0: %d, want 400", resp.StatusCode)
	}
}
