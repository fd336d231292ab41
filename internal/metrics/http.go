package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// Unmatched is the route label of requests no route took (404, 405, and
// requests answered before routing). Raw paths never become labels: they
// hold user, room and event ids, and every distinct value is a new time
// series.
const Unmatched = "unmatched"

// HTTP counts requests by route template (the endpoint group:
// /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}, never the
// path sent), method and status, and times them.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// templates caches each route's label, cleaned of its patterns, so
	// that a request costs a map read, not a string build.
	templates sync.Map // *mux.Route -> string
}

// NewHTTP makes the HTTP metrics of one process.
func NewHTTP() *HTTP {
	return &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rohrpost_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rohrpost_http_request_duration_seconds",
			Help: "Time from the request reaching the router to the handler's return, by route template and method. Long polls (/sync) last up to their timeout.",
			// Up to a minute: /sync and sliding sync wait that long.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rohrpost_http_requests_in_flight",
			Help: "HTTP requests being answered now, long polls included.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (m *HTTP) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.duration.Describe(ch)
	m.inFlight.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *HTTP) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.inFlight.Collect(ch)
}

// Wrap measures every request h answers. h must hand the ResponseWriter
// on unwrapped down to a router made by mxhttp.NewRouter, which names the
// matched route through NoteRoute (see recorder). A nil m measures
// nothing.
func (m *HTTP) Wrap(h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, route: Unmatched}
		m.inFlight.Inc()
		start := time.Now()
		defer func() {
			// After a panic too: the handler's recovery answered 500.
			m.inFlight.Dec()
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			method := methodLabel(r.Method)
			m.requests.WithLabelValues(rec.route, method, codeLabel(rec.status)).Inc()
			m.duration.WithLabelValues(rec.route, method).Observe(time.Since(start).Seconds())
		}()
		rec.metrics = m
		h.ServeHTTP(rec, r)
	})
}

// label is the route's template with the variables' patterns taken out
// ({v:(?:r0|v3)} becomes {v}), cached per route.
func (m *HTTP) label(route *mux.Route) string {
	if l, ok := m.templates.Load(route); ok {
		return l.(string)
	}
	tpl, err := route.GetPathTemplate()
	if err != nil {
		// A route matched by prefix or host only.
		tpl = Unmatched
	}
	l := stripPatterns(tpl)
	m.templates.Store(route, l)
	return l
}

// stripPatterns drops the ":pattern" of each {name:pattern}; patterns
// may hold braces of their own ({n:[0-9]{3}}).
func stripPatterns(tpl string) string {
	if !strings.Contains(tpl, ":") {
		return tpl
	}
	var b strings.Builder
	depth, skipping := 0, false
	for _, c := range tpl {
		switch {
		case c == '{':
			depth++
			if depth == 1 {
				b.WriteRune(c)
				skipping = false
			}
		case c == '}':
			depth--
			if depth == 0 {
				b.WriteRune(c)
			}
		case depth == 0:
			b.WriteRune(c)
		case depth == 1 && c == ':':
			skipping = true
		case depth == 1 && !skipping:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// knownMethods bounds the method label: a client can send any word.
var knownMethods = map[string]string{
	http.MethodGet: http.MethodGet, http.MethodHead: http.MethodHead, http.MethodPost: http.MethodPost,
	http.MethodPut: http.MethodPut, http.MethodDelete: http.MethodDelete, http.MethodPatch: http.MethodPatch,
	http.MethodOptions: http.MethodOptions,
}

func methodLabel(m string) string {
	if l, ok := knownMethods[m]; ok {
		return l
	}
	return "other"
}

// codeLabels are the status codes as strings, made once: strconv.Itoa
// would allocate for every request.
var codeLabels = func() (out [600]string) {
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}()

func codeLabel(code int) string {
	if code < 0 || code >= len(codeLabels) {
		return "other"
	}
	return codeLabels[code]
}

// recorder notes the status and, through NoteRoute, the route of one
// request. Unwrap keeps http.ResponseController (flushes of proxied
// streams, deadlines) working through it.
type recorder struct {
	http.ResponseWriter
	metrics *HTTP
	route   string
	status  int
}

// NoteRoute implements mxhttp.RouteNoter.
func (r *recorder) NoteRoute(route *mux.Route) { r.route = r.metrics.label(route) }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Flush() { _ = http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
