package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/bus"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func sharedPair(t testing.TB) (*Limiter, *Limiter) {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Connect(ctx, bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	a, err := Shared(ctx, b, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Shared(ctx, b, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return a, c
}

// A bucket gives burst_count actions at once, then one per 1/per_second,
// and says how long to wait; another subject has its own bucket. In
// memory and in the shared store, where two limiters (two replicas)
// draw from the same bucket.
func TestBuckets(t *testing.T) {
	ctx := context.Background()
	rule := Rule{Name: "rc_message", PerSecond: 0.5, Burst: 3}
	s1, s2 := sharedPair(t)
	for name, ls := range map[string][2]*Limiter{"memory": {Memory(), nil}, "shared": {s1, s2}} {
		t.Run(name, func(t *testing.T) {
			c := &clock{t: time.Unix(1000, 0)}
			a, b := ls[0], ls[1]
			if b == nil {
				b = a
			}
			a.now, b.now = c.now, c.now
			for i := range 3 {
				l := []*Limiter{a, b}[i%2]
				if err := l.Take(ctx, rule, "@alice:x"); err != nil {
					t.Fatalf("take %d: %v", i, err)
				}
			}
			var lim *Limited
			if err := b.Take(ctx, rule, "@alice:x"); !errors.As(err, &lim) || lim.RetryAfter != 2*time.Second {
				t.Fatalf("fourth take: %v", err)
			}
			if err := a.Take(ctx, rule, "@bob:x"); err != nil {
				t.Fatalf("another subject: %v", err)
			}
			c.t = c.t.Add(1500 * time.Millisecond)
			if err := a.Take(ctx, rule, "@alice:x"); !errors.As(err, &lim) || lim.RetryAfter != 500*time.Millisecond {
				t.Fatalf("too early: %v", err)
			}
			c.t = c.t.Add(500 * time.Millisecond)
			if err := a.Take(ctx, rule, "@alice:x"); err != nil {
				t.Fatalf("after the wait: %v", err)
			}
			// Check takes nothing; Add takes even from an empty bucket.
			c.t = c.t.Add(time.Hour)
			for range 5 {
				if err := a.Check(ctx, rule, "@carol:x"); err != nil {
					t.Fatal(err)
				}
			}
			for range 4 {
				b.Add(ctx, rule, "@carol:x")
			}
			if err := a.Check(ctx, rule, "@carol:x"); !errors.As(err, &lim) || lim.RetryAfter != 4*time.Second {
				t.Fatalf("after 4 adds: %v", err)
			}
		})
	}
	var none *Limiter
	if err := none.Take(ctx, rule, "x"); err != nil {
		t.Fatal("a nil limiter limits")
	}
}

// Concurrent takes from two replicas never give more than the bucket
// holds.
func TestSharedContention(t *testing.T) {
	ctx := context.Background()
	a, b := sharedPair(t)
	rule := Rule{Name: "rc_test", PerSecond: 0.001, Burst: 20}
	results := make(chan error, 60)
	for i := range 60 {
		l := []*Limiter{a, b}[i%2]
		go func() { results <- l.Take(ctx, rule, "@alice:x") }()
	}
	ok := 0
	for range 60 {
		if <-results == nil {
			ok++
		}
	}
	if ok != 20 {
		t.Fatalf("%d of 60 taken, want 20", ok)
	}
}

// The cost of a take on the hot path (sending a message): in memory, and
// through the shared store on the embedded NATS.
func BenchmarkTake(b *testing.B) {
	ctx := context.Background()
	rule := Rule{Name: "rc_message", PerSecond: 1e9, Burst: 1e9}
	s, _ := sharedPair(b)
	for name, l := range map[string]*Limiter{"memory": Memory(), "shared": s} {
		b.Run(name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if err := l.Take(ctx, rule, fmt.Sprintf("@u%d:x", i%100)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
