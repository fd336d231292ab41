package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rohrpost/rohrpost/internal/app"
	"github.com/rohrpost/rohrpost/internal/apptest"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestHealthAndAccessLog: /health is ready while the database and NATS
// answer and 503 with a JSON reason once NATS is gone, while
// /health/live still answers; every request gets an X-Request-Id (the
// client's when sane) and one access log line without the query string.
func TestHealthAndAccessLog(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	a, err := app.New(context.Background(), apptest.Config(t.TempDir()), app.Options{
		AccessLog: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	get := func(path, requestID string) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if requestID != "" {
			req.Header.Set("X-Request-Id", requestID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if resp.Header.Get("Content-Type") == "application/json" {
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		return resp.StatusCode, body, resp.Header
	}

	code, body, hdr := get("/health", "")
	if code != http.StatusOK || body["status"] != "ok" {
		t.Fatalf("/health = %d %v, want 200 ok", code, body)
	}
	generated := hdr.Get("X-Request-Id")
	if len(generated) < 16 {
		t.Fatalf("X-Request-Id %q: none generated", generated)
	}
	if _, _, hdr := get("/_matrix/client/versions?access_token=secret", "from-the-proxy-1"); hdr.Get("X-Request-Id") != "from-the-proxy-1" {
		t.Fatalf("X-Request-Id %q, want the client's echoed", hdr.Get("X-Request-Id"))
	}
	if _, _, hdr := get("/_matrix/client/versions", "bad id; drop table"); hdr.Get("X-Request-Id") == "bad id; drop table" || hdr.Get("X-Request-Id") == "" {
		t.Fatalf("an insane X-Request-Id was kept: %q", hdr.Get("X-Request-Id"))
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["request_id"] == "from-the-proxy-1" {
			line = m
		}
	}
	if line == nil || line["path"] != "/_matrix/client/versions" || line["status"] != float64(200) || line["method"] != "GET" {
		t.Fatalf("no access log line for the request: %v\n%s", line, logs.String())
	}
	if strings.Contains(logs.String(), "secret") {
		t.Fatal("the access log has the query string")
	}

	// NATS gone: not ready, but alive.
	a.Bus.NC.Close()
	code, body, _ = get("/health", "")
	if code != http.StatusServiceUnavailable || body["status"] != "unavailable" || !strings.Contains(body["reason"].(string), "nats") {
		t.Fatalf("/health without NATS = %d %v, want 503 with a reason naming nats", code, body)
	}
	if code, body, _ := get("/health/live", ""); code != http.StatusOK || body["status"] != "alive" {
		t.Fatalf("/health/live = %d %v, want 200", code, body)
	}
}
