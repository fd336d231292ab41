package retention

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Job is one kind of deletion, run every Interval.
type Job struct {
	// Name identifies the job's row; it must be the same in every
	// process that offers the job.
	Name     string
	Interval time.Duration
	// Run does one round. It deletes in batches and calls r.Save after
	// each, so that a crash loses at most one batch's progress; r.Cutoff
	// and r.Started stay the same when the round is resumed elsewhere.
	// It returns how many things it removed, for the log.
	Run func(ctx context.Context, r *Round) (removed int, err error)
}

// Round is one run of a job.
type Round struct {
	// Started is when the round began (before a crash, if resumed).
	Started time.Time
	// Progress is what Save stored last in this round, "" at its start.
	Progress string
	// Log is the job's logger.
	Log *slog.Logger

	save func(ctx context.Context, progress string) error
}

// Save stores the round's progress and renews the lease; ErrLeaseLost
// means another process took the job, and the round must stop.
func (r *Round) Save(ctx context.Context, progress string) error {
	if err := r.save(ctx, progress); err != nil {
		return err
	}
	r.Progress = progress
	return nil
}

// Cutoff is Started minus age: what is older goes.
func (r *Round) Cutoff(age time.Duration) time.Time { return r.Started.Add(-age) }

// Options tune a Scheduler.
type Options struct {
	// Owner names this process in the lease rows; random when empty.
	Owner string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Lease is how long a lease lasts without a Save (default 5 minutes):
	// after a crash, another process takes the job over after that.
	Lease time.Duration
	// Tick is how often the scheduler looks for due jobs (default 1
	// minute).
	Tick time.Duration
}

// Scheduler runs jobs when they are due and their lease is free.
type Scheduler struct {
	store *store
	opts  Options
	jobs  []Job

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// running holds the names of jobs in a round here, so that a slow
	// round is not started twice by the ticker.
	mu      sync.Mutex
	running map[string]bool
}

// New opens the job table (migrating it) for a scheduler of jobs.
func New(ctx context.Context, db *sqlutil.DB, opts Options, jobs ...Job) (*Scheduler, error) {
	st, err := openStore(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	if opts.Owner == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		opts.Owner = hex.EncodeToString(b[:])
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Lease <= 0 {
		opts.Lease = 5 * time.Minute
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Minute
	}
	names := map[string]bool{}
	for _, j := range jobs {
		if j.Name == "" || j.Interval <= 0 || j.Run == nil {
			return nil, fmt.Errorf("retention: job %q needs a name, an interval and a Run", j.Name)
		}
		if names[j.Name] {
			return nil, fmt.Errorf("retention: two jobs named %q would share one lease", j.Name)
		}
		names[j.Name] = true
	}
	return &Scheduler{store: st, opts: opts, jobs: jobs, stop: make(chan struct{}), running: map[string]bool{}}, nil
}

// Jobs names the scheduler's jobs.
func (s *Scheduler) Jobs() []string {
	out := make([]string, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = j.Name
	}
	return out
}

// Start runs due jobs every tick until Stop.
func (s *Scheduler) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-s.stop
		cancel()
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.opts.Tick)
		defer t.Stop()
		for {
			s.RunDue(ctx)
			select {
			case <-t.C:
			case <-s.stop:
				return
			}
		}
	}()
}

// Stop ends the rounds in progress (their progress is kept) and waits
// for them.
func (s *Scheduler) Stop() {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
}

// RunDue runs, one after the other, every job that is due and whose lease
// is free, and returns the names of those it ran to the end.
func (s *Scheduler) RunDue(ctx context.Context) []string {
	var done []string
	for _, j := range s.jobs {
		if ctx.Err() != nil {
			break
		}
		ok, err := s.runOne(ctx, j)
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("retention: round failed, to be resumed", "job", j.Name, "err", err)
			}
			continue
		}
		if ok {
			done = append(done, j.Name)
		}
	}
	return done
}

// runOne runs a round of j if it is due and free; ok tells it ran to the
// end.
func (s *Scheduler) runOne(ctx context.Context, j Job) (ok bool, err error) {
	s.mu.Lock()
	if s.running[j.Name] {
		s.mu.Unlock()
		return false, nil
	}
	s.running[j.Name] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, j.Name)
		s.mu.Unlock()
	}()

	c, claimed, err := s.store.claim(ctx, j.Name, s.opts.Owner, s.opts.Now(), s.opts.Lease)
	if err != nil || !claimed {
		return false, err
	}
	log := slog.With("job", j.Name)
	if c.Progress != "" {
		log.Info("retention: resuming round", "started", c.Started, "progress", c.Progress)
	}
	r := &Round{Started: c.Started, Progress: c.Progress, Log: log}
	r.save = func(ctx context.Context, progress string) error {
		return s.store.save(ctx, j.Name, s.opts.Owner, progress, s.opts.Now().Add(s.opts.Lease))
	}
	removed, err := j.Run(ctx, r)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ErrLeaseLost) {
			// Stopping: free the lease, so that another process goes on
			// at once from the stored progress. After a failure the lease
			// is left to run out instead, which spaces the retries.
			relCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.store.release(relCtx, j.Name, s.opts.Owner)
			cancel()
		}
		return false, err
	}
	now := s.opts.Now()
	if err := s.store.finish(ctx, j.Name, s.opts.Owner, now, now.Add(j.Interval)); err != nil {
		return false, err
	}
	log.Info("retention: round done", "removed", removed, "took", now.Sub(c.Started).Round(time.Millisecond))
	return true, nil
}

// State reads a job's row (for tests and diagnostics).
func (s *Scheduler) State(ctx context.Context, name string) (*JobState, error) {
	return s.store.state(ctx, name)
}
