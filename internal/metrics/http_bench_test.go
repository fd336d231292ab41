package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// BenchmarkWrap is what the HTTP metrics add to a request: run with
// -benchmem against BenchmarkUnwrapped (the router alone).
func BenchmarkWrap(b *testing.B) {
	benchmarkRouter(b, func(h http.Handler) http.Handler { return NewHTTP().Wrap(h) })
}

func BenchmarkUnwrapped(b *testing.B) {
	benchmarkRouter(b, func(h http.Handler) http.Handler { return h })
}

func benchmarkRouter(b *testing.B, wrap func(http.Handler) http.Handler) {
	r := mxhttp.NewRouter()
	r.Handle("/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})).Methods(http.MethodPut)
	h := wrap(r)
	req := httptest.NewRequest(http.MethodPut, "/_matrix/client/v3/rooms/!r:example.org/send/m.room.message/1", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
