package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
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
	t.Parallel()
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
	if want := 3 * len(cfg.ThumbnailSizes); made != want {
		t.Errorf("%d thumbnails made ahead for three images, want %d", made, want)
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

// animated=true scales every frame of a GIF; WebP images get thumbnails
// too.
func TestAnimatedAndWebPThumbnails(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	pal := color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 255}}
	anim := &gif.GIF{}
	for i := 0; i < 3; i++ {
		frame := image.NewPaletted(image.Rect(0, 0, 400, 200), pal)
		for x := 0; x < 400; x++ {
			frame.SetColorIndex(x, (x*i)%200, uint8(i%3))
		}
		anim.Image = append(anim.Image, frame)
		anim.Delay = append(anim.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, anim); err != nil {
		t.Fatal(err)
	}
	up, err := alice.UploadBytes(ctx, buf.Bytes(), "image/gif")
	if err != nil {
		t.Fatal(err)
	}
	webpRaw, _ := base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==") // 1×1 lossless
	webp, err := alice.UploadBytes(ctx, webpRaw, "image/webp")
	if err != nil {
		t.Fatal(err)
	}
	get := func(id, query string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+"/_matrix/client/v1/media/thumbnail/localhost/"+id+"?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	resp, body := get(up.ContentURI.FileID, "width=96&height=96&animated=true")
	out, err := gif.DecodeAll(bytes.NewReader(body))
	if resp.StatusCode != 200 || err != nil || len(out.Image) != 3 || out.Config.Width != 96 || out.Config.Height != 48 {
		t.Fatalf("animated thumbnail: %d %v, %d frames", resp.StatusCode, err, len(out.Image))
	}
	resp, body = get(up.ContentURI.FileID, "width=96&height=96")
	if img, format, err := image.Decode(bytes.NewReader(body)); resp.StatusCode != 200 || err != nil || format != "png" || img.Bounds().Dx() != 96 {
		t.Fatalf("still thumbnail of the GIF: %d %s %v", resp.StatusCode, format, err)
	}
	resp, body = get(webp.ContentURI.FileID, "width=32&height=32&method=crop")
	if img, format, err := image.Decode(bytes.NewReader(body)); resp.StatusCode != 200 || err != nil || format != "png" || img.Bounds().Dx() != 1 {
		t.Fatalf("WebP thumbnail: %d %s %v", resp.StatusCode, format, err)
	}
}
