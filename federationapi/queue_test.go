package federationapi

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/internal/testdb"
	"github.com/rohrpost/rohrpost/roomserver"
)

// These tests run the queue against real parts: the database, an
// embedded NATS, and destinations that are HTTPS servers verifying the
// X-Matrix signature of each request of a real federation client.

const (
	testOrigin = spec.ServerName("origin.test")
	testRoom   = "!room:origin.test"
	testKeyID  = gomatrixserverlib.KeyID("ed25519:test")
)

// queueEnv is one homeserver's side: database, bus, roomserver stand-in
// and federation client. Queues built on one env share all of them, as
// federation API processes of one deployment do.
type queueEnv struct {
	t      testing.TB
	db     *sqlutil.DB
	store  *storage.Store
	bus    *bus.Conn
	client fclient.FederationClient
	pub    ed25519.PublicKey
	rooms  *fakeRooms
}

func newQueueEnv(t testing.TB) *queueEnv {
	t.Helper()
	db := testdb.Open(t)
	store, err := storage.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := bus.Connect(context.Background(), bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	client := fclient.NewFederationClient([]*fclient.SigningIdentity{{ServerName: testOrigin, KeyID: testKeyID, PrivateKey: priv}},
		fclient.WithSkipVerify(true), fclient.WithKeepAlives(true), fclient.WithTimeout(30*time.Second))
	return &queueEnv{t: t, db: db, store: store, bus: conn, client: client, pub: pub, rooms: &fakeRooms{members: map[string]map[string]roomserver.MemberProfile{}}}
}

// testQueueConfig makes the waits short; a test may change it.
func testQueueConfig(owner string) QueueConfig {
	return QueueConfig{OwnerID: owner, LeaseDuration: time.Second, PollInterval: 50 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
}

func (e *queueEnv) start(cfg QueueConfig, allowed func(spec.ServerName) bool) *Queue {
	e.t.Helper()
	q, err := NewQueue(cfg, QueueDeps{Store: e.store, Bus: e.bus, Rooms: e.rooms, Sender: e.client,
		IsLocal: func(n spec.ServerName) bool { return n == testOrigin }, Allowed: allowed})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(q.Stop)
	return q
}

// publish puts an event on the room event stream as the roomserver does;
// the PDU carries seq so that destinations can check order.
func (e *queueEnv) publish(seq int, sender string, mutate ...func(*roomserver.OutputEvent)) {
	e.t.Helper()
	pdu, _ := json.Marshal(map[string]any{
		"room_id": testRoom, "type": "m.room.message", "sender": sender,
		"content": map[string]any{"seq": seq, "sent": time.Now().UnixNano()},
	})
	ev := roomserver.OutputEvent{RoomID: testRoom, EventID: fmt.Sprintf("$e%d", seq), StreamPos: int64(seq),
		Type: "m.room.message", Sender: sender, PDU: pdu}
	for _, m := range mutate {
		m(&ev)
	}
	data, _ := json.Marshal(ev)
	if _, err := e.bus.JS.Publish(context.Background(), bus.RoomEventsSubject, data); err != nil {
		e.t.Fatal(err)
	}
}

func (e *queueEnv) publishRange(from, to int) {
	for i := from; i <= to; i++ {
		e.publish(i, "@alice:origin.test")
	}
}

type fakeRooms struct {
	mu      sync.Mutex
	members map[string]map[string]roomserver.MemberProfile
}

func (r *fakeRooms) join(room string, users ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.members[room] == nil {
		r.members[room] = map[string]roomserver.MemberProfile{}
	}
	for _, u := range users {
		r.members[room][u] = roomserver.MemberProfile{}
	}
}

func (r *fakeRooms) JoinedMembers(_ context.Context, room string) (map[string]roomserver.MemberProfile, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.members[room]), nil
}

// attempt is one PUT /send the destination received.
type attempt struct {
	txnID  string
	status int
	seqs   []int
	edus   []string
	origin spec.ServerName
	// latencies are from publishing each event to its arrival.
	latencies []time.Duration
}

// destinationServer is another homeserver's /send endpoint.
type destinationServer struct {
	t    testing.TB
	name spec.ServerName
	srv  *httptest.Server
	pub  ed25519.PublicKey

	mu       sync.Mutex
	attempts []attempt
	// status answers the next request; 0 is 200.
	status func() int
	// gate, when set, holds every request until it is closed.
	gate chan struct{}
}

func newDestinationServer(t testing.TB, env *queueEnv) *destinationServer {
	d := &destinationServer{t: t, pub: env.pub}
	d.srv = httptest.NewTLSServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	d.name = spec.ServerName(strings.TrimPrefix(d.srv.URL, "https://"))
	return d
}

func (d *destinationServer) user(local string) string { return "@" + local + ":" + string(d.name) }

func (d *destinationServer) VerifyJSONs(_ context.Context, reqs []gomatrixserverlib.VerifyJSONRequest) ([]gomatrixserverlib.VerifyJSONResult, error) {
	out := make([]gomatrixserverlib.VerifyJSONResult, len(reqs))
	for i, r := range reqs {
		if r.ServerName != testOrigin {
			out[i].Error = fmt.Errorf("unknown server %q", r.ServerName)
			continue
		}
		out[i].Error = gomatrixserverlib.VerifyJSON(string(r.ServerName), testKeyID, d.pub, r.Message)
	}
	return out, nil
}

func (d *destinationServer) serve(w http.ResponseWriter, r *http.Request) {
	txnID, ok := strings.CutPrefix(r.URL.Path, "/_matrix/federation/v1/send/")
	if !ok || r.Method != http.MethodPut {
		http.NotFound(w, r)
		return
	}
	freq, resp := fclient.VerifyHTTPRequest(r, time.Now(), d.name, nil, d)
	if freq == nil {
		d.t.Errorf("%s: request not verified: %d %v", d.name, resp.Code, resp.JSON)
		w.WriteHeader(resp.Code)
		return
	}
	d.mu.Lock()
	gate, status := d.gate, d.status
	d.mu.Unlock()
	if gate != nil {
		<-gate
	}
	var body struct {
		Origin spec.ServerName   `json:"origin"`
		PDUs   []json.RawMessage `json:"pdus"`
		EDUs   []struct {
			Type string `json:"edu_type"`
		} `json:"edus"`
	}
	if err := json.Unmarshal(freq.Content(), &body); err != nil {
		d.t.Errorf("%s: bad transaction: %v", d.name, err)
	}
	a := attempt{txnID: txnID, status: http.StatusOK, origin: body.Origin}
	if status != nil {
		if s := status(); s != 0 {
			a.status = s
		}
	}
	for _, p := range body.PDUs {
		var ev struct {
			Content struct {
				Seq  int   `json:"seq"`
				Sent int64 `json:"sent"`
			} `json:"content"`
		}
		_ = json.Unmarshal(p, &ev)
		a.seqs = append(a.seqs, ev.Content.Seq)
		a.latencies = append(a.latencies, time.Since(time.Unix(0, ev.Content.Sent)))
	}
	for _, e := range body.EDUs {
		a.edus = append(a.edus, e.Type)
	}
	if len(body.PDUs) > 50 || len(body.EDUs) > 100 {
		d.t.Errorf("%s: transaction of %d PDUs, %d EDUs", d.name, len(body.PDUs), len(body.EDUs))
	}
	d.mu.Lock()
	d.attempts = append(d.attempts, a)
	d.mu.Unlock()
	if a.status != http.StatusOK {
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN","error":"not now"}`))
		return
	}
	_, _ = w.Write([]byte(`{"pdus":{}}`))
}

func (d *destinationServer) setStatus(f func() int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status = f
}

// delivered is every event seq the destination accepted, in arrival order.
// A transaction id accepted twice (a retry whose answer was lost) counts
// once; the same event in two different transactions is a duplicate and
// fails the test.
func (d *destinationServer) delivered() []int {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int
	accepted := map[string]bool{}
	inTxn := map[int]string{}
	for _, a := range d.attempts {
		if a.status != http.StatusOK || accepted[a.txnID] {
			continue
		}
		accepted[a.txnID] = true
		for _, s := range a.seqs {
			if prev, ok := inTxn[s]; ok {
				d.t.Errorf("%s: event %d in transactions %s and %s", d.name, s, prev, a.txnID)
			}
			inTxn[s] = a.txnID
			out = append(out, s)
		}
	}
	return out
}

func (d *destinationServer) attemptsSoFar() []attempt {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.attempts)
}

// awaitQueue polls cond until it holds or the deadline passes.
func awaitQueue(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func seqsFromTo(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func (d *destinationServer) waitFor(t testing.TB, want []int) {
	t.Helper()
	awaitQueue(t, fmt.Sprintf("%s to receive %d events", d.name, len(want)), func() bool { return len(d.delivered()) >= len(want) })
	if got := d.delivered(); !slices.Equal(got, want) {
		t.Fatalf("%s received %v, want %v", d.name, got, want)
	}
}

func TestQueueFanOutInOrder(t *testing.T) {
	env := newQueueEnv(t)
	a, b := newDestinationServer(t, env), newDestinationServer(t, env)
	kicked, refused := newDestinationServer(t, env), newDestinationServer(t, env)
	env.rooms.join(testRoom, "@alice:origin.test", "@bob:origin.test", a.user("carol"), a.user("dave"), b.user("erin"), refused.user("mallory"))
	env.start(testQueueConfig("one"), func(n spec.ServerName) bool { return n != refused.name })

	env.publishRange(1, 120)
	// Remote servers send their own events; we do not forward them.
	env.publish(121, a.user("carol"))
	// A membership event also reaches the server of its subject.
	env.publish(122, "@alice:origin.test", func(ev *roomserver.OutputEvent) {
		ken := kicked.user("ken")
		ev.Type, ev.StateKey, ev.Membership = spec.MRoomMember, &ken, spec.Leave
	})
	want := append(seqsFromTo(1, 120), 122)
	a.waitFor(t, want)
	b.waitFor(t, want)
	kicked.waitFor(t, []int{122})
	for _, d := range []*destinationServer{a, b, kicked} {
		for _, at := range d.attemptsSoFar() {
			if at.origin != testOrigin {
				t.Fatalf("%s: transaction from %q", d.name, at.origin)
			}
		}
	}
	if n := len(refused.attemptsSoFar()); n != 0 {
		t.Fatalf("a refused server got %d transactions", n)
	}
}

func TestQueueSendEDU(t *testing.T) {
	env := newQueueEnv(t)
	a := newDestinationServer(t, env)
	q := env.start(testQueueConfig("one"), nil)
	ctx := context.Background()
	edu := gomatrixserverlib.EDU{Type: spec.MTyping, Origin: string(testOrigin), Content: spec.RawJSON(`{"room_id":"!r:origin.test","user_id":"@alice:origin.test","typing":true}`)}
	if err := q.SendEDU(ctx, []spec.ServerName{a.name, testOrigin, a.name}, edu); err != nil {
		t.Fatal(err)
	}
	awaitQueue(t, "the EDU", func() bool {
		for _, at := range a.attemptsSoFar() {
			if slices.Equal(at.edus, []string{spec.MTyping}) && at.status == http.StatusOK {
				return true
			}
		}
		return false
	})
	edu.Origin = "someone.else"
	if err := q.SendEDU(ctx, []spec.ServerName{a.name}, edu); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("EDU from a remote origin: %v, want ErrNotLocal", err)
	}
}

func TestQueueRetriesWithSameTransaction(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusBadRequest, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			env := newQueueEnv(t)
			a := newDestinationServer(t, env)
			env.rooms.join(testRoom, "@alice:origin.test", a.user("carol"))
			var mu sync.Mutex
			failures := 3
			a.setStatus(func() int {
				mu.Lock()
				defer mu.Unlock()
				if failures > 0 {
					failures--
					return status
				}
				return 0
			})
			env.start(testQueueConfig("one"), nil)
			env.publishRange(1, 10)
			awaitQueue(t, "all events", func() bool { return len(a.delivered()) == 10 })
			attempts := a.attemptsSoFar()
			if len(attempts) < 4 {
				t.Fatalf("%d attempts, want 3 failures and a success", len(attempts))
			}
			// The failed transaction is retried as it was, id and all.
			first := attempts[0]
			for _, at := range attempts[1:4] {
				if at.txnID != first.txnID || !slices.Equal(at.seqs, first.seqs) {
					t.Fatalf("retry %+v differs from first attempt %+v", at, first)
				}
			}
			if attempts[3].status != http.StatusOK {
				t.Fatalf("fourth attempt answered %d", attempts[3].status)
			}
			if got := a.delivered(); !slices.Equal(got, seqsFromTo(1, 10)) {
				t.Fatalf("received %v", got)
			}
		})
	}
}

func TestQueueNoHeadOfLineBlocking(t *testing.T) {
	env := newQueueEnv(t)
	stuck, healthy := newDestinationServer(t, env), newDestinationServer(t, env)
	gate := make(chan struct{})
	stuck.gate = gate
	released := false
	defer func() {
		if !released {
			close(gate)
		}
	}()
	env.rooms.join(testRoom, "@alice:origin.test", stuck.user("s"), healthy.user("h"))
	env.start(testQueueConfig("one"), nil)
	env.publishRange(1, 75)
	healthy.waitFor(t, seqsFromTo(1, 75))
	if got := stuck.delivered(); len(got) != 0 {
		t.Fatalf("the stuck destination already has %v", got)
	}
	close(gate)
	released = true
	stuck.waitFor(t, seqsFromTo(1, 75))
}

func TestQueueRestartDeliversPending(t *testing.T) {
	env := newQueueEnv(t)
	a := newDestinationServer(t, env)
	a.setStatus(func() int { return http.StatusBadGateway })
	env.rooms.join(testRoom, "@alice:origin.test", a.user("carol"))
	q1 := env.start(testQueueConfig("one"), nil)
	env.publishRange(1, 20)
	awaitQueue(t, "the events to be queued", func() bool {
		n, err := env.store.QueueLength(context.Background(), a.name)
		return err == nil && n == 20
	})
	awaitQueue(t, "an attempt", func() bool { return len(a.attemptsSoFar()) > 0 })
	q1.Stop()
	// Published while no federation sender runs: the durable consumer
	// keeps them for the next one.
	env.publishRange(21, 30)
	a.setStatus(nil)
	env.start(testQueueConfig("two"), nil)
	a.waitFor(t, seqsFromTo(1, 30))
	// What the first queue tried went out first.
	if got, pinned := firstAccepted(a), a.attemptsSoFar()[0]; !resends(got, pinned) {
		t.Fatalf("first accepted transaction %+v, but %+v was in flight", got, pinned)
	}
}

func TestQueueLeaseMovesWhenOwnerDies(t *testing.T) {
	env := newQueueEnv(t)
	a := newDestinationServer(t, env)
	a.setStatus(func() int { return http.StatusServiceUnavailable })
	env.rooms.join(testRoom, "@alice:origin.test", a.user("carol"))
	ctx := context.Background()
	q1 := env.start(testQueueConfig("one"), nil)
	env.publishRange(1, 5)
	awaitQueue(t, "the first owner to try", func() bool {
		st, err := env.store.Destination(ctx, a.name)
		return err == nil && st.Owner == "one" && len(a.attemptsSoFar()) > 0
	})
	env.start(testQueueConfig("two"), nil)
	// While the first owner lives, it keeps sending.
	n := len(a.attemptsSoFar())
	awaitQueue(t, "more attempts by the first owner", func() bool { return len(a.attemptsSoFar()) >= n+2 })
	if st, _ := env.store.Destination(ctx, a.name); st.Owner != "one" {
		t.Fatalf("owner %q while the first owner lives", st.Owner)
	}
	pinned := a.attemptsSoFar()[0]
	q1.halt() // as kill -9: the lease is not given back
	awaitQueue(t, "the second queue to take over", func() bool {
		st, err := env.store.Destination(ctx, a.name)
		return err == nil && st.Owner == "two"
	})
	a.setStatus(nil)
	a.waitFor(t, seqsFromTo(1, 5))
	if got := firstAccepted(a); !resends(got, pinned) {
		t.Fatalf("first accepted transaction %+v, want what was in flight, %+v", got, pinned)
	}
}

func firstAccepted(d *destinationServer) attempt {
	for _, at := range d.attemptsSoFar() {
		if at.status == http.StatusOK {
			return at
		}
	}
	return attempt{}
}

// resends tells whether got carries again what pinned, a transaction
// that was in flight, carried: with EDUs, the same transaction (its id);
// PDUs only, the same events first (such a transaction is not pinned to
// its id, and may have grown).
func resends(got, pinned attempt) bool {
	if len(pinned.edus) > 0 {
		return got.txnID == pinned.txnID
	}
	return len(got.seqs) >= len(pinned.seqs) && slices.Equal(got.seqs[:len(pinned.seqs)], pinned.seqs)
}

func TestQueueDropsWhatPolicyRefuses(t *testing.T) {
	env := newQueueEnv(t)
	a := newDestinationServer(t, env)
	a.setStatus(func() int { return http.StatusServiceUnavailable })
	env.rooms.join(testRoom, "@alice:origin.test", a.user("carol"))
	var refuse atomic.Bool
	env.start(testQueueConfig("one"), func(spec.ServerName) bool { return !refuse.Load() })
	env.publishRange(1, 5)
	awaitQueue(t, "an attempt", func() bool { return len(a.attemptsSoFar()) > 0 })
	// The allow-list changed: what waits is not sent.
	refuse.Store(true)
	a.setStatus(nil)
	awaitQueue(t, "an empty queue", func() bool {
		n, err := env.store.QueueLength(context.Background(), a.name)
		return err == nil && n == 0
	})
	if got := a.delivered(); len(got) != 0 {
		t.Fatalf("a refused destination received %v", got)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want time.Duration
	}{
		{"429 with retry_after_ms", gomatrix.HTTPError{Code: 429, Contents: []byte(`{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":1500}`)}, 1500 * time.Millisecond},
		{"429 without", gomatrix.HTTPError{Code: 429, Contents: []byte(`{"errcode":"M_LIMIT_EXCEEDED"}`)}, 0},
		{"503", gomatrix.HTTPError{Code: 503, Contents: []byte(`{"retry_after_ms":1500}`)}, 0},
		{"wrapped", fmt.Errorf("send: %w", gomatrix.HTTPError{Code: 429, Contents: []byte(`{"retry_after_ms":7}`)}), 7 * time.Millisecond},
		{"network", errors.New("connection refused"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryAfter(tc.err); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{1, 2 * time.Second}, {2, 4 * time.Second}, {5, 32 * time.Second}, {12, time.Hour}, {100, time.Hour}} {
		if got := backoff(2*time.Second, time.Hour, tc.failures); got != tc.want {
			t.Errorf("backoff after %d failures: %v, want %v", tc.failures, got, tc.want)
		}
	}
}

// BenchmarkFanOut measures one sender's events fanned out to 20
// destinations, from publishing on the bus to every destination having
// accepted every event: all at once (throughput; the p99 is mostly the
// wait behind the burst), and at a steady 200 events/s (latency).
func BenchmarkFanOut(b *testing.B) {
	b.Run("burst", func(b *testing.B) { benchmarkFanOut(b, 0) })
	b.Run("200/s", func(b *testing.B) { benchmarkFanOut(b, 200) })
}

func benchmarkFanOut(b *testing.B, rate int) {
	env := newQueueEnv(b)
	users := []string{"@alice:origin.test"}
	var dests []*destinationServer
	for range 20 {
		d := newDestinationServer(b, env)
		dests = append(dests, d)
		users = append(users, d.user("u"))
	}
	env.rooms.join(testRoom, users...)
	cfg := testQueueConfig("bench")
	cfg.LeaseDuration, cfg.PollInterval = 30*time.Second, time.Second
	env.start(cfg, nil)
	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i-1) * time.Second / time.Duration(rate))))
		}
		env.publish(i, "@alice:origin.test")
	}
	for _, d := range dests {
		awaitQueue(b, "delivery", func() bool { return len(d.delivered()) >= b.N })
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var lat []time.Duration
	for _, d := range dests {
		for _, a := range d.attemptsSoFar() {
			lat = append(lat, a.latencies...)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// A destination in a long backoff is tried again as soon as it is heard
// from (it sent us a signed request), not when the backoff ends.
func TestQueueBackoffEndsWhenPeerIsHeardFrom(t *testing.T) {
	env := newQueueEnv(t)
	a := newDestinationServer(t, env)
	env.rooms.join(testRoom, "@alice:origin.test", a.user("carol"))
	a.setStatus(func() int { return http.StatusServiceUnavailable })
	cfg := testQueueConfig("one")
	cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour
	q := env.start(cfg, nil)
	env.publishRange(1, 5)
	awaitQueue(t, "a failed attempt", func() bool { return len(a.attemptsSoFar()) > 0 })
	a.setStatus(nil)
	q.PeerSeen(a.name)
	a.waitFor(t, seqsFromTo(1, 5))
}
