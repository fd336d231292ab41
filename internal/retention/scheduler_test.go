package retention

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/testdb"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

// TestOneSchedulerRuns: two processes offer the same job; while one runs
// a round the other does not start it, and each due round runs once.
func TestOneSchedulerRuns(t *testing.T) {
	db := testdb.Open(t)
	ctx := context.Background()
	clock := newClock()
	var runs atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	job := Job{Name: "count", Interval: time.Hour, Run: func(ctx context.Context, r *Round) (int, error) {
		if runs.Add(1) == 1 {
			close(entered)
			<-release
		}
		return 0, nil
	}}
	a, err := New(ctx, db, Options{Owner: "a", Now: clock.Now}, job)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, db, Options{Owner: "b", Now: clock.Now}, job)
	if err != nil {
		t.Fatal(err)
	}
	doneA := make(chan []string)
	go func() { doneA <- a.RunDue(ctx) }()
	<-entered
	if ran := b.RunDue(ctx); len(ran) != 0 || runs.Load() != 1 {
		t.Fatalf("b ran %v while a held the lease (runs %d)", ran, runs.Load())
	}
	close(release)
	if ran := <-doneA; len(ran) != 1 {
		t.Fatalf("a ran %v, want count", ran)
	}
	// Not due again before the interval, whoever asks.
	clock.Add(59 * time.Minute)
	if ran := append(a.RunDue(ctx), b.RunDue(ctx)...); len(ran) != 0 {
		t.Fatalf("ran %v before the interval", ran)
	}
	clock.Add(time.Minute)
	ran := append(b.RunDue(ctx), a.RunDue(ctx)...)
	if len(ran) != 1 || runs.Load() != 2 {
		t.Fatalf("after the interval ran %v (runs %d), want one round", ran, runs.Load())
	}
}

// TestRoundResumesAfterCrash: a round that dies without releasing its
// lease (kill -9) is continued by another process once the lease ran
// out, from the stored progress and with the first round's cutoff.
func TestRoundResumesAfterCrash(t *testing.T) {
	db := testdb.Open(t)
	ctx := context.Background()
	clock := newClock()
	start := clock.Now()
	var mu sync.Mutex
	done := map[int]int{}
	var cutoffs []time.Time
	crash := errors.New("crash")
	makeJob := func(crashAfter int) Job {
		return Job{Name: "items", Interval: 24 * time.Hour, Run: func(ctx context.Context, r *Round) (int, error) {
			mu.Lock()
			cutoffs = append(cutoffs, r.Cutoff(time.Hour))
			mu.Unlock()
			next := 0
			if r.Progress != "" {
				next, _ = strconv.Atoi(r.Progress)
			}
			removed := 0
			for batch := 0; next < 10; batch++ {
				if batch == crashAfter {
					return removed, crash
				}
				end := min(next+3, 10)
				mu.Lock()
				for i := next; i < end; i++ {
					done[i]++
				}
				mu.Unlock()
				removed += end - next
				next = end
				if err := r.Save(ctx, strconv.Itoa(next)); err != nil {
					return removed, err
				}
			}
			return removed, nil
		}}
	}
	a, err := New(ctx, db, Options{Owner: "a", Now: clock.Now, Lease: 5 * time.Minute}, makeJob(2))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, db, Options{Owner: "b", Now: clock.Now, Lease: 5 * time.Minute}, makeJob(-1))
	if err != nil {
		t.Fatal(err)
	}
	if ran := a.RunDue(ctx); len(ran) != 0 {
		t.Fatalf("the crashing round reported %v as done", ran)
	}
	st, err := a.State(ctx, "items")
	if err != nil || st.Progress != "6" || st.Owner != "a" {
		t.Fatalf("after the crash: %+v, %v; want progress 6 held by a", st, err)
	}
	clock.Add(time.Minute)
	if ran := b.RunDue(ctx); len(ran) != 0 {
		t.Fatalf("b took the job while a's lease ran (%v)", ran)
	}
	clock.Add(5 * time.Minute)
	if ran := b.RunDue(ctx); len(ran) != 1 {
		t.Fatalf("b did not resume the job after the lease ran out")
	}
	for i := 0; i < 10; i++ {
		if done[i] != 1 {
			t.Fatalf("item %d done %d times, want once: %v", i, done[i], done)
		}
	}
	if len(cutoffs) != 2 || !cutoffs[0].Equal(cutoffs[1]) || !cutoffs[0].Equal(start.Add(-time.Hour)) {
		t.Fatalf("cutoffs %v, want both %v", cutoffs, start.Add(-time.Hour))
	}
	st, err = b.State(ctx, "items")
	if err != nil || st.Progress != "" || st.Owner != "" || !st.NextRun.Equal(clock.Now().Add(24*time.Hour)) {
		t.Fatalf("after the round: %+v, %v", st, err)
	}
}

// TestLostLeaseStopsRound: a process that did not save within its lease
// finds, at its next save, that another took the job, and stops.
func TestLostLeaseStopsRound(t *testing.T) {
	db := testdb.Open(t)
	ctx := context.Background()
	clock := newClock()
	var saveErr error
	var b *Scheduler
	slow := Job{Name: "slow", Interval: time.Hour, Run: func(ctx context.Context, r *Round) (int, error) {
		clock.Add(10 * time.Minute)
		if ran := b.RunDue(ctx); len(ran) != 1 {
			t.Errorf("b could not take the expired lease")
		}
		saveErr = r.Save(ctx, "x")
		return 0, saveErr
	}}
	a, err := New(ctx, db, Options{Owner: "a", Now: clock.Now}, slow)
	if err != nil {
		t.Fatal(err)
	}
	quick := slow
	quick.Run = func(context.Context, *Round) (int, error) { return 0, nil }
	if b, err = New(ctx, db, Options{Owner: "b", Now: clock.Now}, quick); err != nil {
		t.Fatal(err)
	}
	a.RunDue(ctx)
	if !errors.Is(saveErr, ErrLeaseLost) {
		t.Fatalf("save after losing the lease: %v, want ErrLeaseLost", saveErr)
	}
	st, _ := a.State(ctx, "slow")
	if st.Owner != "" || !st.NextRun.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("a's lost round changed the row: %+v", st)
	}
}

// TestStartStop: the ticker runs due jobs, and Stop waits for them.
func TestStartStop(t *testing.T) {
	db := testdb.Open(t)
	ran := make(chan struct{}, 1)
	s, err := New(context.Background(), db, Options{Tick: 10 * time.Millisecond}, Job{Name: "tick", Interval: time.Hour,
		Run: func(context.Context, *Round) (int, error) {
			select {
			case ran <- struct{}{}:
			default:
			}
			return 0, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the started scheduler ran nothing")
	}
	s.Stop()
	s.Stop()
}

// TestJobsRefused: a job without what it needs, or two of one name,
// stop the scheduler from being made.
func TestJobsRefused(t *testing.T) {
	db := testdb.Open(t)
	run := func(context.Context, *Round) (int, error) { return 0, nil }
	tests := []struct {
		name string
		jobs []Job
	}{
		{"no name", []Job{{Interval: time.Hour, Run: run}}},
		{"no interval", []Job{{Name: "x", Run: run}}},
		{"no run", []Job{{Name: "x", Interval: time.Hour}}},
		{"two of one name", []Job{{Name: "x", Interval: time.Hour, Run: run}, {Name: "x", Interval: time.Minute, Run: run}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(context.Background(), db, Options{}, tc.jobs...); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
