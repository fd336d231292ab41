package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/mediaapi/clamd/clamdtest"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
)

// mediaAnswer is a download as a test sees it.
type mediaAnswer struct {
	status      int
	errcode     string
	body        []byte
	contentType string
	disposition string
}

func fetchMedia(t *testing.T, base, path, token string) mediaAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := mediaAnswer{status: resp.StatusCode, body: body, contentType: resp.Header.Get("Content-Type"),
		disposition: resp.Header.Get("Content-Disposition")}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Errcode string `json:"errcode"`
		}
		_ = json.Unmarshal(body, &e)
		out.errcode = e.Errcode
	}
	return out
}

// writeMultipart answers as a federation media endpoint does.
func writeMultipart(w http.ResponseWriter, second textproto.MIMEHeader, content []byte) {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	meta, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	_, _ = meta.Write([]byte("{}"))
	part, _ := mw.CreatePart(second)
	_, _ = part.Write(content)
	_ = mw.Close()
}

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 120, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFederationMedia(t *testing.T) {
	t.Parallel()
	clam := clamdtest.Start(t)
	servers := apptest.StartFederation(t, 2)
	a, b := servers[0], servers[1]
	ctx := context.Background()
	// Nothing listens on port 1: a server that is allowed but unreachable.
	const unreachable = "127.0.0.1:1"
	// B scans like an agency's server, federates with A (and the
	// unreachable server) only, takes files up to 1 MiB and keeps the
	// legacy endpoints open.
	bcfg := b.App.Config
	bcfg.ContentScanner.Clamd = clam.Address
	bcfg.ContentScanner.FailClosed = true
	bcfg.FederationDomainWhitelist = &[]string{string(a.ServerName), unreachable}
	bcfg.MaxUploadSize = 1 << 20
	bcfg.ServeUnauthenticatedMedia = true
	b.Restart(t)

	// Every federation download that reaches A is counted.
	var fetches atomic.Int32
	aRoutes := a.App.Handler()
	a.Handle("GET /_matrix/federation/v1/media/download/{mediaId}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		aRoutes.ServeHTTP(w, r)
	}))

	alice := a.Register(t, "alice")
	bob := b.Register(t, "bob")
	upload := func(content []byte, contentType, name string) string {
		t.Helper()
		up, err := alice.UploadBytesWithName(ctx, content, contentType, name)
		if err != nil {
			t.Fatal(err)
		}
		return up.ContentURI.FileID
	}
	viaB := func(kind, id, query string) mediaAnswer {
		t.Helper()
		return fetchMedia(t, b.URL, "/_matrix/client/v1/media/"+kind+"/"+string(a.ServerName)+"/"+id+query, bob.AccessToken)
	}
	fromA := func(id string) mediaAnswer {
		t.Helper()
		return fetchMedia(t, a.URL, "/_matrix/client/v1/media/download/"+string(a.ServerName)+"/"+id, alice.AccessToken)
	}

	minutes := []byte("Protokoll der Sitzung vom 3. März: Tagesordnungspunkt 1 …")
	minutesID := upload(minutes, "text/plain", "Protokoll Sitzung.txt")

	t.Run("first download fetches from A with type and name", func(t *testing.T) {
		got, want := viaB("download", minutesID, ""), fromA(minutesID)
		if got.status != 200 || !bytes.Equal(got.body, minutes) {
			t.Fatalf("download via B: %d %q", got.status, got.body)
		}
		if got.contentType != want.contentType || got.disposition != want.disposition ||
			got.disposition != "inline; filename*=utf-8''Protokoll%20Sitzung.txt" {
			t.Fatalf("headers via B %q %q, at A %q %q", got.contentType, got.disposition, want.contentType, want.disposition)
		}
		if n := fetches.Load(); n != 1 {
			t.Fatalf("%d fetches at A, want 1", n)
		}
	})

	t.Run("later downloads come from B's cache", func(t *testing.T) {
		before := fetches.Load()
		for range 3 {
			if got := viaB("download", minutesID, ""); got.status != 200 || !bytes.Equal(got.body, minutes) {
				t.Fatalf("cached download: %d", got.status)
			}
		}
		// The legacy path (open on B) serves the cache too.
		legacy := fetchMedia(t, b.URL, "/_matrix/media/v3/download/"+string(a.ServerName)+"/"+minutesID, "")
		if legacy.status != 200 || !bytes.Equal(legacy.body, minutes) {
			t.Fatalf("legacy download of cached media: %d", legacy.status)
		}
		if n := fetches.Load() - before; n != 0 {
			t.Fatalf("%d more fetches at A", n)
		}
	})

	t.Run("concurrent first downloads fetch once", func(t *testing.T) {
		report := make([]byte, 300<<10)
		if _, err := rand.Read(report); err != nil {
			t.Fatal(err)
		}
		id := upload(report, "application/pdf", "Bericht.pdf")
		before := fetches.Load()
		var wg sync.WaitGroup
		answers := make([]mediaAnswer, 8)
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = viaB("download", id, "")
			}()
		}
		wg.Wait()
		for i, got := range answers {
			if got.status != 200 || !bytes.Equal(got.body, report) || got.disposition != "attachment; filename*=utf-8''Bericht.pdf" {
				t.Fatalf("download %d: %d, %d bytes, %q", i, got.status, len(got.body), got.disposition)
			}
		}
		if n := fetches.Load() - before; n != 1 {
			t.Fatalf("%d fetches at A for 8 concurrent downloads, want 1", n)
		}
	})

	t.Run("thumbnails of remote images", func(t *testing.T) {
		id := upload(testPNG(t, 400, 300), "image/png", "Lageplan.png")
		before := fetches.Load()
		got := viaB("thumbnail", id, "?width=32&height=32&method=crop")
		if got.status != 200 || got.contentType != "image/png" {
			t.Fatalf("thumbnail via B: %d %s %s", got.status, got.contentType, got.body)
		}
		img, err := png.Decode(bytes.NewReader(got.body))
		if err != nil || img.Bounds().Dx() != 32 || img.Bounds().Dy() != 32 {
			t.Fatalf("thumbnail %v (%v)", img.Bounds(), err)
		}
		if got := viaB("thumbnail", id, "?width=320&height=240&method=scale"); got.status != 200 {
			t.Fatalf("second size: %d", got.status)
		}
		if n := fetches.Load() - before; n != 1 {
			t.Fatalf("%d fetches at A for two thumbnails, want 1", n)
		}
	})

	t.Run("unknown and malformed media", func(t *testing.T) {
		for _, id := range []string{"doesNotExist", "bad.id", "%2E%2E", "a%2Fb"} {
			if got := viaB("download", id, ""); got.status != 404 || got.errcode != "M_NOT_FOUND" {
				t.Errorf("%s: %d %s", id, got.status, got.errcode)
			}
		}
	})

	t.Run("B scans remote media and never serves an infected file", func(t *testing.T) {
		// A never stores an infected upload, so A plays a server that
		// serves a file it did not scan.
		var served atomic.Int32
		a.Handle("GET /_matrix/federation/v1/media/download/infected0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served.Add(1)
			writeMultipart(w, textproto.MIMEHeader{"Content-Type": {"application/octet-stream"},
				"Content-Disposition": {"attachment; filename=rechnung.exe"}}, clamdtest.Infected)
		}))
		for range 2 {
			if got := viaB("download", "infected0", ""); got.status != 403 || got.errcode != "M_FORBIDDEN" || bytes.Contains(got.body, clamdtest.Infected) {
				t.Fatalf("infected download: %d %s %s", got.status, got.errcode, got.body)
			}
		}
		if got := viaB("thumbnail", "infected0", "?width=32&height=32"); got.status != 403 {
			t.Fatalf("infected thumbnail: %d", got.status)
		}
		if n := served.Load(); n != 1 {
			t.Fatalf("the infected file was fetched %d times, want once", n)
		}
		q, err := b.App.Media.Quarantined(ctx, 10)
		mxc := "mxc://" + string(a.ServerName) + "/infected0"
		if err != nil || len(q) == 0 || q[0].Uploader != mxc || q[0].Filename != "rechnung.exe" {
			t.Fatalf("quarantine %+v (%v)", q, err)
		}
	})

	t.Run("a server that knows only the legacy endpoint", func(t *testing.T) {
		a.Handle("GET /_matrix/federation/v1/media/download/legacy0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}`))
		}))
		var legacyCalls atomic.Int32
		a.Handle("GET /_matrix/media/v3/download/{server}/legacy0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			legacyCalls.Add(1)
			if r.URL.Query().Get("allow_remote") != "false" || r.Header.Get("Authorization") != "" || r.URL.Path != "/_matrix/media/v3/download/"+string(a.ServerName)+"/legacy0" {
				t.Logf("bad legacy request %s %q", r.URL, r.Header.Get("Authorization"))
				http.Error(w, "bad legacy request", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/csv")
			w.Header().Set("Content-Disposition", `attachment; filename="liste.csv"`)
			_, _ = w.Write([]byte("a;b\n1;2\n"))
		}))
		for range 2 {
			got := viaB("download", "legacy0", "")
			if got.status != 200 || string(got.body) != "a;b\n1;2\n" || got.contentType != "text/csv" || got.disposition != "inline; filename*=utf-8''liste.csv" {
				t.Fatalf("legacy fallback: %d %q %q %q", got.status, got.body, got.contentType, got.disposition)
			}
		}
		if n := legacyCalls.Load(); n != 1 {
			t.Fatalf("%d legacy requests, want 1", n)
		}
	})

	t.Run("a multipart answer with a Location", func(t *testing.T) {
		a.Handle("GET /_matrix/federation/v1/media/download/located0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeMultipart(w, textproto.MIMEHeader{"Location": {a.TLSURL + "/cdn/located0"}}, nil)
		}))
		a.Handle("GET /cdn/located0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("vom CDN"))
		}))
		if got := viaB("download", "located0", ""); got.status != 200 || string(got.body) != "vom CDN" {
			t.Fatalf("located download: %d %q", got.status, got.body)
		}
	})

	t.Run("timeout_ms bounds the wait for a server that does not answer", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		a.Handle("GET /_matrix/federation/v1/media/download/slow0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		start := time.Now()
		got := viaB("download", "slow0", "?timeout_ms=100")
		if got.status != 504 || got.errcode != "M_NOT_YET_UPLOADED" || time.Since(start) > 15*time.Second {
			t.Fatalf("slow server: %d %s after %v", got.status, got.errcode, time.Since(start))
		}
	})

	t.Run("too large for B", func(t *testing.T) {
		id := upload(make([]byte, 2<<20), "application/octet-stream", "gross.bin")
		if got := viaB("download", id, ""); got.status != 502 || got.errcode != "M_TOO_LARGE" {
			t.Fatalf("too large: %d %s", got.status, got.errcode)
		}
	})

	t.Run("servers outside the allow-list and unreachable ones", func(t *testing.T) {
		tests := []struct {
			name, server string
			status       int
			errcode      string
		}{
			{"not on B's allow-list", "denied.example", 403, "M_FORBIDDEN"},
			{"allowed but unreachable", unreachable, 502, "M_UNKNOWN"},
			{"not a server name", "bad_server!", 404, "M_NOT_FOUND"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got := fetchMedia(t, b.URL, "/_matrix/client/v1/media/download/"+tc.server+"/abc", bob.AccessToken)
				if got.status != tc.status || got.errcode != tc.errcode {
					t.Fatalf("%d %s, want %d %s", got.status, got.errcode, tc.status, tc.errcode)
				}
			})
		}
	})

	t.Run("legacy allow_remote=false does not fetch", func(t *testing.T) {
		id := upload([]byte("nur lokal"), "text/plain", "")
		before := fetches.Load()
		path := "/_matrix/media/v3/download/" + string(a.ServerName) + "/" + id
		if got := fetchMedia(t, b.URL, path+"?allow_remote=false", ""); got.status != 404 {
			t.Fatalf("allow_remote=false: %d", got.status)
		}
		if got := fetchMedia(t, b.URL, path, ""); got.status != 200 || string(got.body) != "nur lokal" {
			t.Fatalf("legacy remote download: %d", got.status)
		}
		if n := fetches.Load() - before; n != 1 {
			t.Fatalf("%d fetches, want 1", n)
		}
	})

	t.Run("A's federation endpoints", func(t *testing.T) {
		fetcher, err := federationapi.NewMediaFetcher(b.App.Config, b.App.Keys)
		if err != nil {
			t.Fatal(err)
		}
		signedGet := func(path string) (*http.Response, []byte) {
			t.Helper()
			resp, err := fetcher.Get(ctx, b.ServerName, a.ServerName, path, true)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp, body
		}
		parts := func(resp *http.Response, body []byte) []mediaPart {
			t.Helper()
			mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if err != nil || mt != "multipart/mixed" {
				t.Fatalf("answer %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			var out []mediaPart
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return out
				}
				if err != nil {
					t.Fatal(err)
				}
				content, err := io.ReadAll(p)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, mediaPart{p.Header, content})
			}
		}

		pic := testPNG(t, 200, 100)
		id := upload(pic, "image/png", "Karte.png")
		resp, body := signedGet("/_matrix/federation/v1/media/download/" + id)
		got := parts(resp, body)
		if len(got) != 2 || got[0].header.Get("Content-Type") != "application/json" || string(got[0].body) != "{}" ||
			got[1].header.Get("Content-Type") != "image/png" || got[1].header.Get("Content-Disposition") != "inline; filename*=utf-8''Karte.png" ||
			!bytes.Equal(got[1].body, pic) {
			t.Fatalf("download parts: %+v", got)
		}

		resp, body = signedGet("/_matrix/federation/v1/media/thumbnail/" + id + "?width=96&height=96&method=scale")
		got = parts(resp, body)
		if len(got) != 2 || got[1].header.Get("Content-Type") != "image/png" {
			t.Fatalf("thumbnail parts: %+v", got)
		}
		thumb, err := png.Decode(bytes.NewReader(got[1].body))
		if err != nil || thumb.Bounds().Dx() != 96 || thumb.Bounds().Dy() != 48 {
			t.Fatalf("thumbnail %v (%v)", thumb.Bounds(), err)
		}

		// A large file crosses several chunks.
		large := make([]byte, 700<<10)
		if _, err := rand.Read(large); err != nil {
			t.Fatal(err)
		}
		resp, body = signedGet("/_matrix/federation/v1/media/download/" + upload(large, "application/zip", "akte.zip"))
		if got := parts(resp, body); len(got) != 2 || !bytes.Equal(got[1].body, large) {
			t.Fatalf("large download: %d parts", len(got))
		}

		// A file the scanner refused after all (a verdict that came
		// later) is not served.
		refusedContent := []byte("später als Schadsoftware erkannt")
		refused := upload(refusedContent, "text/plain", "")
		store, err := storage.Open(ctx, a.App.DB)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(refusedContent)
		if err := store.PutScanResult(ctx, hex.EncodeToString(sum[:]), storage.ScanResult{Infected: true, Signature: "Test.Late"}, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name, path string
			status     int
			errcode    string
		}{
			{"unknown media", "/_matrix/federation/v1/media/download/doesNotExist", 404, "M_NOT_FOUND"},
			{"unknown thumbnail", "/_matrix/federation/v1/media/thumbnail/doesNotExist?width=32&height=32", 404, "M_NOT_FOUND"},
			{"malformed id", "/_matrix/federation/v1/media/download/a.b", 404, "M_NOT_FOUND"},
			{"escaped slash", "/_matrix/federation/v1/media/download/..%2F..%2Fsigning.key", 404, "M_NOT_FOUND"},
			{"refused by the scanner", "/_matrix/federation/v1/media/download/" + refused, 404, "M_NOT_FOUND"},
			{"thumbnail without size", "/_matrix/federation/v1/media/thumbnail/" + id, 400, "M_INVALID_PARAM"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := signedGet(tc.path)
				var e struct {
					Errcode string `json:"errcode"`
				}
				_ = json.Unmarshal(body, &e)
				if resp.StatusCode != tc.status || e.Errcode != tc.errcode {
					t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.errcode)
				}
			})
		}

		// Without a signature: 401.
		resp2, err := a.HTTPClient().Get(a.TLSURL + "/_matrix/federation/v1/media/download/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unsigned request: %d", resp2.StatusCode)
		}
	})
}

type mediaPart struct {
	header textproto.MIMEHeader
	body   []byte
}
