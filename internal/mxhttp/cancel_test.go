package mxhttp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/testdb"
)

// pgError is a database error as lib/pq's *pq.Error shows itself.
type pgError struct{ code, msg string }

func (e *pgError) Error() string    { return "pq: " + e.msg }
func (e *pgError) SQLState() string { return e.code }

// captureLog sends slog's output to a buffer until the test ends.
func captureLog(t *testing.T) *syncBuffer {
	t.Helper()
	buf := &syncBuffer{}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return buf
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A statement the database canceled because the request's context ended
// is a cancel, not an internal error; with the request still live (a
// statement_timeout) it stays one.
func TestWriteErrorQueryCanceled(t *testing.T) {
	canceledCtx, cancel := context.WithCancel(context.Background())
	cancel()
	queryCanceled := &pgError{"57014", "canceling statement due to user request"}
	tests := []struct {
		name    string
		ctx     context.Context
		err     error
		status  int
		logged  bool
		errcode string
	}{
		{"57014 after the client hung up", canceledCtx, queryCanceled, 503, false, "M_UNKNOWN"},
		{"57014 wrapped", canceledCtx, fmt.Errorf("load timeline: %w", queryCanceled), 503, false, "M_UNKNOWN"},
		{"57014 with the client still there", context.Background(), queryCanceled, 500, true, "M_UNKNOWN"},
		{"another database error after the client hung up", canceledCtx, &pgError{"23505", "duplicate key"}, 500, true, "M_UNKNOWN"},
		{"context canceled", context.Background(), fmt.Errorf("x: %w", context.Canceled), 503, false, "M_UNKNOWN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := captureLog(t)
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/_matrix/client/v3/sync", nil).WithContext(tc.ctx)
			mxhttp.WriteError(w, r, tc.err)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.errcode) {
				t.Errorf("answer %d %s, want %d %s", w.Code, w.Body.String(), tc.status, tc.errcode)
			}
			if got := strings.Contains(logs.String(), "internal error"); got != tc.logged {
				t.Errorf("logged as an internal error: %v, want %v (%q)", got, tc.logged, logs.String())
			}
		})
	}
}

// statusRecorder keeps the status a handler wrote, which a client that
// hung up never sees.
type statusRecorder struct {
	http.ResponseWriter
	status chan int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status <- code
	s.ResponseWriter.WriteHeader(code)
}

// Against PostgreSQL: a client that abandons a request while its query
// runs gets the query canceled, and that is neither a 500 nor an internal
// error in the log.
func TestAbandonedRequestCancelsQueryQuietly(t *testing.T) {
	if testdb.PostgresURI() == "" {
		t.Skip("needs ROHRPOST_TEST_POSTGRES")
	}
	db := testdb.Open(t)
	logs := captureLog(t)
	started := make(chan struct{}, 1)
	status := make(chan int, 1)
	h := mxhttp.Handler(func(r *http.Request) (any, error) {
		started <- struct{}{}
		_, err := db.Read.ExecContext(r.Context(), "SELECT pg_sleep(30)")
		return nil, err
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&statusRecorder{ResponseWriter: w, status: status}, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/_matrix/client/v3/sync", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-started
	time.Sleep(200 * time.Millisecond) // the query is running
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	select {
	case code := <-status:
		if code != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the query was not canceled")
	}
	if strings.Contains(logs.String(), "internal error") {
		t.Errorf("logged as an internal error: %s", logs.String())
	}
}
