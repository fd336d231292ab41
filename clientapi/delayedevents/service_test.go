package delayedevents

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/internal/testdb"
)

// fakeClock is moved by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// sender records what it sent and answers with err when set.
type sender struct {
	mu   sync.Mutex
	sent []string
	err  error
}

func (s *sender) send(_ context.Context, e *Event) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
	s.sent = append(s.sent, e.DelayID)
	return "$" + e.DelayID, nil
}

func (s *sender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

func newTestService(t *testing.T, store *Store, clock *fakeClock, snd *sender, owner string) *Service {
	t.Helper()
	return New(Config{MaxDelay: time.Hour, MaxPerUser: 3, OwnerID: owner, Now: clock.Now}, store, snd.send, nil)
}

func schedule(t *testing.T, s *Service, user string, delay time.Duration) string {
	t.Helper()
	id, err := s.Schedule(context.Background(), ScheduleRequest{UserID: user, DeviceID: "D", RoomID: "!r:x", Type: "m.room.message",
		Content: json.RawMessage(`{"body":"hi"}`), Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestFireWithFakeClock(t *testing.T) {
	ctx := context.Background()
	store, err := OpenStore(ctx, testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.UnixMilli(1_000_000)}
	snd := &sender{}
	s := newTestService(t, store, clock, snd, "one")

	first := schedule(t, s, "@a:x", 10*time.Second)
	second := schedule(t, s, "@a:x", 20*time.Second)
	if next := s.FireDue(ctx); next != 1_010_000 || snd.count() != 0 {
		t.Fatalf("nothing due yet: next %d, sent %v", next, snd.sent)
	}
	clock.Add(5 * time.Second)
	if err := s.Restart(ctx, "@a:x", first); err != nil {
		t.Fatal(err)
	}
	clock.Add(6 * time.Second) // 11 s after scheduling, 6 s after the restart
	if next := s.FireDue(ctx); snd.count() != 0 || next != 1_015_000 {
		t.Fatalf("restarted event sent early: next %d, sent %v", next, snd.sent)
	}
	clock.Add(10 * time.Second)
	s.FireDue(ctx)
	if len(snd.sent) != 2 || snd.sent[0] != first || snd.sent[1] != second {
		t.Fatalf("sent %v, want first then second", snd.sent)
	}
	e, err := s.Get(ctx, "@a:x", first)
	if err != nil || e.Status != StatusSent || e.EventID != "$"+first || e.FinalisedTS != clock.Now().UnixMilli() {
		t.Fatalf("after sending: %v %+v", err, e)
	}

	t.Run("refusal is final", func(t *testing.T) {
		id := schedule(t, s, "@b:x", time.Second)
		snd.err = mxhttp.Forbidden("not in the room")
		defer func() { snd.err = nil }()
		clock.Add(2 * time.Second)
		s.FireDue(ctx)
		e, _ := s.Get(ctx, "@b:x", id)
		var wire map[string]any
		_ = json.Unmarshal(e.Error, &wire)
		if e.Status != StatusFailed || wire["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("refused: %+v %s", e, e.Error)
		}
	})

	t.Run("transient failure is tried again, then given up", func(t *testing.T) {
		id := schedule(t, s, "@c:x", time.Second)
		snd.err = errors.New("room server unreachable")
		defer func() { snd.err = nil }()
		for i := 1; i <= maxAttempts; i++ {
			clock.Add(time.Minute)
			s.FireDue(ctx)
			e, _ := s.Get(ctx, "@c:x", id)
			if (i < maxAttempts) != (e.Status == StatusScheduled) || e.Attempts != i {
				t.Fatalf("attempt %d: %+v", i, e)
			}
		}
		e, _ := s.Get(ctx, "@c:x", id)
		if e.Status != StatusFailed || len(e.Error) == 0 {
			t.Fatalf("given up: %+v", e)
		}
	})

	t.Run("send now failing keeps it scheduled", func(t *testing.T) {
		id := schedule(t, s, "@d:x", time.Hour)
		snd.err = &mxhttp.Error{Status: http.StatusForbidden, Code: "M_FORBIDDEN", Msg: "no"}
		err := s.SendNow(ctx, "@d:x", id)
		snd.err = nil
		if !errors.Is(err, snd.errOrNil()) && err == nil {
			t.Fatal("no error")
		}
		if e, _ := s.Get(ctx, "@d:x", id); e.Status != StatusScheduled || e.Claimed {
			t.Fatalf("after failed send: %+v", e)
		}
		if err := s.SendNow(ctx, "@d:x", id); err != nil {
			t.Fatal(err)
		}
		if err := s.SendNow(ctx, "@d:x", id); err != nil {
			t.Fatalf("send again: %v", err)
		}
		if err := s.Cancel(ctx, "@d:x", id); !errors.Is(err, ErrConflict) {
			t.Fatalf("cancel after send: %v", err)
		}
	})

	t.Run("limits", func(t *testing.T) {
		if _, err := s.Schedule(ctx, ScheduleRequest{UserID: "@e:x", Delay: 2 * time.Hour}); !errors.Is(err, ErrDelayTooLong) {
			t.Errorf("too long: %v", err)
		}
		for i := 0; i < 3; i++ {
			schedule(t, s, "@e:x", time.Duration(i+1)*time.Minute)
		}
		_, err := s.Schedule(ctx, ScheduleRequest{UserID: "@e:x", RoomID: "!r:x", Type: "t", Content: json.RawMessage(`{}`), Delay: time.Second})
		var tm *TooManyError
		if !errors.As(err, &tm) || tm.RetryAfter != time.Minute {
			t.Errorf("fourth: %v", err)
		}
	})
}

func (s *sender) errOrNil() error { return nil }

// Two processes on one database: each due event is sent by one of them.
func TestClaimIsExclusive(t *testing.T) {
	ctx := context.Background()
	db := testdb.Open(t)
	store, err := OpenStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.UnixMilli(5_000_000)}
	snd := &sender{}
	a, b := newTestService(t, store, clock, snd, "a"), newTestService(t, store, clock, snd, "b")
	a.cfg.MaxPerUser, b.cfg.MaxPerUser = 1000, 1000
	var ids []string
	for i := 0; i < 120; i++ {
		ids = append(ids, schedule(t, a, "@u:x", time.Second))
	}
	clock.Add(2 * time.Second)
	var wg sync.WaitGroup
	for _, s := range []*Service{a, b, a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); s.FireDue(ctx) }()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, id := range snd.sent {
		seen[id]++
	}
	if len(snd.sent) != len(ids) || len(seen) != len(ids) {
		t.Fatalf("%d sends of %d distinct events, want each of %d once", len(snd.sent), len(seen), len(ids))
	}
}

// A process that died while sending leaves a claim; when it runs out
// another process sends the event.
func TestDeadClaimIsTakenOver(t *testing.T) {
	ctx := context.Background()
	store, err := OpenStore(ctx, testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.UnixMilli(9_000_000)}
	snd := &sender{}
	s := newTestService(t, store, clock, snd, "alive")
	id := schedule(t, s, "@u:x", time.Second)
	clock.Add(2 * time.Second)
	now := clock.Now().UnixMilli()
	if got, err := store.Claim(ctx, "dead", now, now+claimFor.Milliseconds(), 10, "", ""); err != nil || len(got) != 1 {
		t.Fatalf("claim as the dead process: %v %v", err, got)
	}
	s.FireDue(ctx)
	if snd.count() != 0 {
		t.Fatal("sent while another process held the claim")
	}
	if err := s.Cancel(ctx, "@u:x", id); !errors.Is(err, ErrConflict) {
		t.Errorf("cancel while being sent: %v", err)
	}
	clock.Add(claimFor + time.Second)
	s.FireDue(ctx)
	if snd.count() != 1 {
		t.Fatalf("not taken over: %v", snd.sent)
	}
}
