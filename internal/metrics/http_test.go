package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

func TestStripPatterns(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no variables", "/_matrix/client/versions", "/_matrix/client/versions"},
		{"plain variables", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"},
		{"pattern", "/_matrix/client/{v:(?:r0|v3)}/sync", "/_matrix/client/{v}/sync"},
		{"pattern with braces", "/x/{n:[0-9]{3}}/y/{m:.*}", "/x/{n}/y/{m}"},
		{"colon outside a variable", "/_matrix/media/v3/download/{serverName}/{mediaId}:x", "/_matrix/media/v3/download/{serverName}/{mediaId}:x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := stripPatterns(tc.in); got != tc.want {
				t.Fatalf("stripPatterns(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestHTTPLabels: requests are labelled with the template of the route
// the router matched, whatever the path held; unknown paths, methods and
// status codes fall into bounded labels.
func TestHTTPLabels(t *testing.T) {
	r := mxhttp.NewRouter()
	r.Handle("/rooms/{roomId}/send/{txnId}", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})).Methods(http.MethodPut)
	r.Handle("/{v:(?:r0|v3)}/flush", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("x"))
		http.NewResponseController(w).Flush() // must reach the real writer
	})).Methods(http.MethodGet)
	m := NewHTTP()
	srv := httptest.NewServer(m.Wrap(r))
	defer srv.Close()

	do := func(method, path string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do(http.MethodPut, "/rooms/!a:example.org/send/1")
	do(http.MethodPut, "/rooms/!b:example.org/send/2")
	do(http.MethodGet, "/v3/flush")
	do(http.MethodGet, "/no/such/path")
	do("BREW", "/rooms/!a:example.org/send/3")
	// A handler that flushed has answered before it returned, and a
	// request is counted when it returns: Close waits for the handlers.
	srv.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	requests := map[[3]string]float64{}
	for _, s := range byName["rohrpost_http_requests_total"].GetMetric() {
		l := labels(s)
		requests[[3]string{l["route"], l["method"], l["code"]}] = s.GetCounter().GetValue()
	}
	tests := []struct {
		name                string
		route, method, code string
		want                float64
	}{
		{"one series for every room", "/rooms/{roomId}/send/{txnId}", "PUT", "201", 2},
		{"pattern stripped", "/{v}/flush", "GET", "200", 1},
		{"unknown path", Unmatched, "GET", "404", 1},
		{"unknown method", Unmatched, "other", "405", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := requests[[3]string{tc.route, tc.method, tc.code}]; got != tc.want {
				t.Fatalf("requests{%s %s %s} = %v, want %v (all: %v)", tc.route, tc.method, tc.code, got, tc.want, requests)
			}
		})
	}
	if len(requests) != len(tests) {
		t.Fatalf("request series %v, want %d", requests, len(tests))
	}
	if n := len(byName["rohrpost_http_request_duration_seconds"].GetMetric()); n != 4 {
		t.Fatalf("%d latency series, want 4 (route and method, no status)", n)
	}
	if got := byName["rohrpost_http_requests_in_flight"].GetMetric()[0].GetGauge().GetValue(); got != 0 {
		t.Fatalf("in flight after all answered: %v", got)
	}
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
