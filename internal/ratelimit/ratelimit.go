// Package ratelimit holds the token buckets behind the rc_* settings
// (docs/decisions/0018). A bucket holds up to burst_count tokens and
// refills at per_second; each action takes one. A bucket is stored as
// one number, the time at which it will be full again (the "theoretical
// arrival time" of the generic cell rate algorithm), so that a shared
// store needs one key and one compare-and-set per action.
//
// A process alone on its NATS (the embedded one) keeps the buckets in
// memory; processes that share a NATS cluster, and so may be replicas of
// one another, keep them in the RATE_LIMITS key-value bucket, so that a
// client cannot multiply its allowance by the number of replicas.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/fnv"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// Rule is one rc_* setting.
type Rule struct {
	// Name keys the buckets of this rule apart from other rules'.
	Name      string
	PerSecond float64
	Burst     float64
}

func (r Rule) interval() int64 { return int64(float64(time.Second) / r.PerSecond) }

// capacity is how far ahead of now a full bucket's time may be.
func (r Rule) capacity() int64 { return int64(r.Burst * float64(r.interval())) }

// Limiter answers whether an action may happen now. A nil *Limiter allows
// everything (rate_limiting.enabled: false).
type Limiter struct {
	store store
	now   func() time.Time
}

type store interface {
	// apply updates the bucket key with f, which gets the stored time
	// (0 when none) and returns the time to store and whether to store
	// it. Without write, f never stores and must see the latest time.
	apply(ctx context.Context, key string, write bool, f func(tat int64) (int64, bool)) error
}

// Memory is a limiter whose buckets live in this process.
func Memory() *Limiter {
	return &Limiter{store: &memStore{m: map[string]int64{}}, now: time.Now}
}

// Shared is a limiter whose buckets live in the RATE_LIMITS bucket of b's
// NATS, shared by every process connected to it. maxAge is the longest
// time a bucket takes to fill up (burst_count / per_second of the
// slowest rule): a bucket untouched that long is full and may go.
func Shared(ctx context.Context, b *bus.Conn, maxAge time.Duration) (*Limiter, error) {
	if maxAge < time.Minute {
		maxAge = time.Minute
	}
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  "RATE_LIMITS",
		History: 1,
		TTL:     maxAge,
		// Unauthenticated requests make buckets (one per address):
		// bound them; when the bucket is full, limits fail open.
		MaxBytes: 64 << 20,
		Storage:  jetstream.MemoryStorage,
	})
	if err != nil {
		return nil, err
	}
	return &Limiter{store: &kvStore{kv: kv}, now: time.Now}, nil
}

// Limited is the answer to an action that must wait.
type Limited struct {
	RetryAfter time.Duration
}

func (l *Limited) Error() string { return "rate limited for " + l.RetryAfter.String() }

// Take takes a token from the bucket of rule and subject (a user id, an
// address), or returns a *Limited saying how long to wait.
func (l *Limiter) Take(ctx context.Context, rule Rule, subject string) error {
	return l.do(ctx, rule, subject, true, false)
}

// Check tells whether Take would succeed, without taking a token (for
// actions counted only when they fail or succeed, with Add).
func (l *Limiter) Check(ctx context.Context, rule Rule, subject string) error {
	return l.do(ctx, rule, subject, false, false)
}

// Add takes a token whether or not the bucket has one (a failed login
// counted after the fact).
func (l *Limiter) Add(ctx context.Context, rule Rule, subject string) {
	_ = l.do(ctx, rule, subject, true, true)
}

func (l *Limiter) do(ctx context.Context, rule Rule, subject string, take, force bool) error {
	if l == nil || rule.PerSecond <= 0 {
		return nil
	}
	now := l.now().UnixNano()
	var wait int64
	err := l.store.apply(ctx, bucketKey(rule.Name, subject), take, func(tat int64) (int64, bool) {
		if tat < now {
			tat = now
		}
		next := tat + rule.interval()
		wait = next - rule.capacity() - now
		if wait > 0 && !force {
			return 0, false
		}
		return next, take
	})
	if errors.Is(err, errContended) {
		return &Limited{RetryAfter: time.Second}
	}
	if err != nil {
		// The limits protect the server; an unreachable store must not
		// take it down with it.
		slog.Warn("rate limit store", "err", err)
		return nil
	}
	if wait > 0 && !force {
		return &Limited{RetryAfter: time.Duration(wait)}
	}
	return nil
}

// bucketKey is a key NATS accepts, and names no user in the store.
func bucketKey(rule, subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return rule + "." + hex.EncodeToString(sum[:16])
}

type memStore struct {
	mu    sync.Mutex
	m     map[string]int64
	calls int
}

func (s *memStore) apply(_ context.Context, key string, _ bool, f func(int64) (int64, bool)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls++; s.calls%4096 == 0 {
		// Buckets whose time has passed are full: forget them.
		now := time.Now().UnixNano()
		for k, tat := range s.m {
			if tat < now {
				delete(s.m, k)
			}
		}
	}
	if tat, ok := f(s.m[key]); ok {
		s.m[key] = tat
	}
	return nil
}

type kvStore struct {
	kv jetstream.KeyValue
	// last is what this process last read or wrote of each bucket: the
	// next action tries to write over it straight away, one round trip
	// instead of two while no other replica wrote the bucket meanwhile.
	mu   sync.Mutex
	last map[string]kvSeen
	// stripes serialise this process's actions on one bucket, so that
	// only other replicas' writes make a compare-and-set fail.
	stripes [64]sync.Mutex
}

type kvSeen struct {
	tat int64
	rev uint64
}

func (s *kvStore) remembered(key string) (kvSeen, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.last[key]
	return v, ok
}

func (s *kvStore) remember(key string, v kvSeen) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil || len(s.last) > 50000 {
		s.last = map[string]kvSeen{}
	}
	s.last[key] = v
}

// apply writes the bucket over the revision last seen, and when another
// process wrote it meanwhile reads it and tries again. What was seen may
// be older than the bucket, whose time only grows: a refusal on it stands,
// a write on it fails, and a check without write reads afresh.
func (s *kvStore) apply(ctx context.Context, key string, write bool, f func(int64) (int64, bool)) error {
	h := fnv.New32a()
	h.Write([]byte(key))
	stripe := &s.stripes[h.Sum32()%uint32(len(s.stripes))]
	stripe.Lock()
	defer stripe.Unlock()
	seen, known := s.remembered(key)
	known = known && write
	for i := range 16 {
		if i > 0 {
			time.Sleep(time.Duration(mrand.Int64N(int64(time.Millisecond) << min(i, 6))))
		}
		if !known {
			seen = kvSeen{}
			e, err := s.kv.Get(ctx, key)
			switch {
			case errors.Is(err, jetstream.ErrKeyNotFound):
			case err != nil:
				return err
			default:
				if v := e.Value(); len(v) == 8 {
					seen.tat = int64(binary.BigEndian.Uint64(v))
				}
				seen.rev = e.Revision()
			}
		}
		next, ok := f(seen.tat)
		if !ok {
			if !known {
				s.remember(key, seen)
			}
			return nil
		}
		var val [8]byte
		binary.BigEndian.PutUint64(val[:], uint64(next))
		var rev uint64
		var err error
		if seen.rev == 0 {
			rev, err = s.kv.Create(ctx, key, val[:])
		} else {
			rev, err = s.kv.Update(ctx, key, val[:], seen.rev)
		}
		if err == nil {
			s.remember(key, kvSeen{tat: next, rev: rev})
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
		known = false
	}
	return errContended
}

// errContended is a bucket other replicas keep writing: someone is
// hammering one limit from many places at once, so the action is refused
// (the caller retries in a moment), never let through.
var errContended = errors.New("rate limit bucket contended")

// RetryAfterMS is d in whole milliseconds, rounded up.
func RetryAfterMS(d time.Duration) int64 {
	return int64(math.Ceil(float64(d) / float64(time.Millisecond)))
}

// New is the limiter the configuration asks for: nil when
// rate_limiting.enabled is false, shared when the process uses an
// external NATS (where replicas may run), else in memory.
func New(ctx context.Context, cfg *config.Config, b *bus.Conn) (*Limiter, error) {
	if !cfg.RateLimiting.Enabled {
		return nil, nil
	}
	if len(cfg.NATS.Addresses) == 0 || b == nil {
		return Memory(), nil
	}
	var longest time.Duration
	for _, l := range cfg.RateLimits.Each() {
		longest = max(longest, time.Duration(l.BurstCount/l.PerSecond*float64(time.Second)))
	}
	return Shared(ctx, b, min(longest+time.Minute, 7*24*time.Hour))
}

// RuleOf is the rule of one rc_* setting.
func RuleOf(name string, l config.RateLimit) Rule {
	return Rule{Name: name, PerSecond: l.PerSecond, Burst: l.BurstCount}
}

// Error is the answer to an action refused by err (a *Limited), or err.
func Error(err error) error {
	var lim *Limited
	if errors.As(err, &lim) {
		return mxhttp.LimitExceeded(RetryAfterMS(lim.RetryAfter))
	}
	return err
}
