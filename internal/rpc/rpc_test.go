package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/rpc"
)

// sample is an API shaped like the components' ones.
type sample interface {
	Echo(ctx context.Context, in Record) (*Record, error)
	Pair(ctx context.Context, a string, b *int) (string, map[string]int, error)
	Nothing(ctx context.Context) error
	Fail(ctx context.Context, kind string) (int, error)
	Slow(ctx context.Context, d time.Duration) (bool, error)
	Deadline(ctx context.Context) (bool, error)
}

type Record struct {
	User    spec.UserID
	Users   []spec.UserID
	Name    string `json:"name_on_the_client"`
	Ptr     *string
	Raw     json.RawMessage
	Nested  map[string][]int64
	Bytes   []byte
	PDU     gomatrixserverlib.PDU
	NoPDU   gomatrixserverlib.PDU
	private int
}

var errSentinel = errors.New("sentinel happened")

type impl struct{}

func (impl) Echo(_ context.Context, in Record) (*Record, error) { return &in, nil }
func (impl) Pair(_ context.Context, a string, b *int) (string, map[string]int, error) {
	if b == nil {
		return a, nil, nil
	}
	return a, map[string]int{a: *b}, nil
}
func (impl) Nothing(context.Context) error { return nil }
func (impl) Fail(_ context.Context, kind string) (int, error) {
	switch kind {
	case "sentinel":
		return 0, errors.Join(errSentinel, errors.New("with detail"))
	case "matrix":
		return 0, &mxhttp.Error{Status: http.StatusForbidden, Code: "M_FORBIDDEN", Msg: "no", Extra: map[string]any{"x": "y"}}
	case "panic":
		panic("boom")
	}
	return 0, errors.New("plain failure")
}
func (impl) Slow(ctx context.Context, d time.Duration) (bool, error) {
	select {
	case <-time.After(d):
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
func (impl) Deadline(ctx context.Context) (bool, error) {
	_, ok := ctx.Deadline()
	return ok, nil
}

// client is the sample API over NATS, written the way component clients are.
type client struct{ c *rpc.Client }

func (c client) Echo(ctx context.Context, in Record) (out *Record, err error) {
	err = c.c.Call(ctx, "Echo", []any{in}, &out)
	return
}
func (c client) Pair(ctx context.Context, a string, b *int) (s string, m map[string]int, err error) {
	err = c.c.Call(ctx, "Pair", []any{a, b}, &s, &m)
	return
}
func (c client) Nothing(ctx context.Context) error { return c.c.Call(ctx, "Nothing", nil) }
func (c client) Fail(ctx context.Context, kind string) (n int, err error) {
	err = c.c.Call(ctx, "Fail", []any{kind}, &n)
	return
}
func (c client) Slow(ctx context.Context, d time.Duration) (ok bool, err error) {
	err = c.c.Call(ctx, "Slow", []any{d}, &ok)
	return
}
func (c client) Deadline(ctx context.Context) (ok bool, err error) {
	err = c.c.Call(ctx, "Deadline", nil, &ok)
	return
}

func start(t *testing.T) (sample, *bus.Conn) {
	t.Helper()
	b, err := bus.Connect(context.Background(), bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	srv, err := rpc.Serve[sample](b.NC, "sample", impl{}, []error{errSentinel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return client{rpc.NewClient(b.NC, "sample", []error{errSentinel})}, b
}

func TestRoundTrip(t *testing.T) {
	c, _ := start(t)
	ctx := context.Background()
	ptr := "pointed"
	pdu, err := gomatrixserverlib.MustGetRoomVersion("10").NewEventFromTrustedJSON([]byte(`{"auth_events":[],"content":{"creator":"@a:x"},"depth":1,"hashes":{"sha256":"abc"},"origin_server_ts":1,"prev_events":[],"room_id":"!r:x","sender":"@a:x","signatures":{},"state_key":"","type":"m.room.create"}`), false)
	if err != nil {
		t.Fatal(err)
	}
	in := Record{
		User:    spec.NewUserIDOrPanic("@alice:example.org", false),
		Users:   []spec.UserID{spec.NewUserIDOrPanic("@bob:example.org", false)},
		Name:    "tagged",
		Ptr:     &ptr,
		Raw:     json.RawMessage(`{"a":[1,2]}`),
		Nested:  map[string][]int64{"k": {1, 2, 3}},
		Bytes:   []byte{0, 1, 255},
		PDU:     pdu,
		private: 7,
	}
	out, err := c.Echo(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if out.User.String() != "@alice:example.org" || len(out.Users) != 1 || out.Users[0].String() != "@bob:example.org" {
		t.Errorf("user ids: %v %v", out.User.String(), out.Users)
	}
	if out.Name != "tagged" || out.Ptr == nil || *out.Ptr != ptr || string(out.Raw) != `{"a":[1,2]}` {
		t.Errorf("fields: %+v", out)
	}
	if !reflect.DeepEqual(out.Nested, in.Nested) || !reflect.DeepEqual(out.Bytes, in.Bytes) {
		t.Errorf("collections: %+v", out)
	}
	if out.PDU == nil || out.PDU.EventID() != pdu.EventID() || out.NoPDU != nil {
		t.Errorf("pdu: %v", out.PDU)
	}
	if out.private != 0 {
		t.Error("unexported fields must not cross the wire")
	}

	two := 2
	tests := []struct {
		b    *int
		want map[string]int
	}{{nil, nil}, {&two, map[string]int{"x": 2}}}
	for _, tc := range tests {
		s, m, err := c.Pair(ctx, "x", tc.b)
		if err != nil || s != "x" || !reflect.DeepEqual(m, tc.want) {
			t.Errorf("Pair(%v) = %q %v %v", tc.b, s, m, err)
		}
	}
	if err := c.Nothing(ctx); err != nil {
		t.Error(err)
	}
}

func TestErrors(t *testing.T) {
	c, _ := start(t)
	ctx := context.Background()
	_, err := c.Fail(ctx, "sentinel")
	if !errors.Is(err, errSentinel) || err.Error() != "sentinel happened\nwith detail" {
		t.Errorf("sentinel: %v", err)
	}
	_, err = c.Fail(ctx, "matrix")
	var mx *mxhttp.Error
	if !errors.As(err, &mx) || mx.Status != http.StatusForbidden || mx.Code != "M_FORBIDDEN" || mx.Extra["x"] != "y" {
		t.Errorf("matrix error: %#v", err)
	}
	_, err = c.Fail(ctx, "plain")
	if err == nil || err.Error() != "plain failure" || errors.Is(err, errSentinel) {
		t.Errorf("plain: %v", err)
	}
	if _, err = c.Fail(ctx, "panic"); err == nil {
		t.Error("a panic must come back as an error")
	}
	// The server survived the panic.
	if err := c.Nothing(ctx); err != nil {
		t.Error(err)
	}
}

func TestDeadlinesAndConcurrency(t *testing.T) {
	c, _ := start(t)
	ctx := context.Background()
	if ok, err := c.Deadline(ctx); err != nil || !ok {
		t.Errorf("the caller's deadline must reach the server: %v %v", ok, err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.Slow(short, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timed out call: %v", err)
	}
	// A slow call does not hold up the others of the same method.
	var wg sync.WaitGroup
	slowDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = c.Slow(ctx, 2*time.Second)
		close(slowDone)
	}()
	time.Sleep(50 * time.Millisecond)
	if ok, err := c.Slow(ctx, time.Millisecond); err != nil || !ok {
		t.Fatal(ok, err)
	}
	select {
	case <-slowDone:
		t.Error("the quick call waited for the slow one")
	default:
	}
	wg.Wait()
}

func TestUnavailable(t *testing.T) {
	b, err := bus.Connect(context.Background(), bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := client{rpc.NewClient(b.NC, "nobody", nil)}
	err = c.Nothing(context.Background())
	var mx *mxhttp.Error
	if !errors.As(err, &mx) || mx.Status != http.StatusServiceUnavailable {
		t.Errorf("no responders: %v", err)
	}
}
