package sqlutil

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// maxBatch bounds one transaction so a flood of writers cannot build one
// that holds the write lock for long.
const maxBatch = 256

type writeRequest struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	done chan error
}

// groupCommitter runs every write of the process through one goroutine.
// Whatever arrives while a transaction commits is gathered into the next
// one, so N concurrent writers cost one fsync, not N.
type groupCommitter struct {
	db       *sql.DB
	requests chan writeRequest
	quit     chan struct{}
	wg       sync.WaitGroup
	metrics  *commitMetrics // metrics.go
}

func newGroupCommitter(db *sql.DB) *groupCommitter {
	g := &groupCommitter{db: db, requests: make(chan writeRequest, maxBatch), quit: make(chan struct{}), metrics: newCommitMetrics()}
	g.wg.Add(1)
	go g.loop()
	return g
}

// ErrClosed is returned for writes after Close.
var ErrClosed = fmt.Errorf("database closed")

func (g *groupCommitter) do(ctx context.Context, fn func(*sql.Tx) error) error {
	req := writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case g.requests <- req:
	case <-g.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the write may
	// already be committed and the caller must not believe otherwise.
	return <-req.done
}

func (g *groupCommitter) stop() {
	select {
	case <-g.quit:
		return
	default:
	}
	close(g.quit)
	g.wg.Wait()
}

func (g *groupCommitter) loop() {
	defer g.wg.Done()
	batch := make([]writeRequest, 0, maxBatch)
	for {
		select {
		case req := <-g.requests:
			batch = append(batch[:0], req)
		case <-g.quit:
			g.drain()
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case req := <-g.requests:
				batch = append(batch, req)
			default:
				break gather
			}
		}
		g.run(batch)
	}
}

// drain answers whatever is still queued at shutdown.
func (g *groupCommitter) drain() {
	for {
		select {
		case req := <-g.requests:
			g.run([]writeRequest{req})
		default:
			return
		}
	}
}

func (g *groupCommitter) run(batch []writeRequest) {
	errs := make([]error, len(batch))
	tx, err := g.db.Begin()
	if err != nil {
		for _, req := range batch {
			req.done <- fmt.Errorf("begin: %w", err)
		}
		return
	}
	single := len(batch) == 1
	for i, req := range batch {
		if err := req.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if single {
			errs[i] = req.fn(tx)
			continue
		}
		errs[i] = runInSavepoint(tx, req.fn)
	}
	if single && errs[0] != nil {
		_ = tx.Rollback()
		batch[0].done <- errs[0]
		return
	}
	commitStart := g.metrics.now()
	if err := tx.Commit(); err != nil {
		for _, req := range batch {
			req.done <- fmt.Errorf("commit: %w", err)
		}
		return
	}
	g.metrics.committed(len(batch), commitStart)
	for i, req := range batch {
		req.done <- errs[i]
	}
}

func runInSavepoint(tx *sql.Tx, fn func(*sql.Tx) error) (err error) {
	if _, err := tx.Exec("SAVEPOINT gc"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write panicked: %v", p)
		}
		if err != nil {
			if _, rerr := tx.Exec("ROLLBACK TO SAVEPOINT gc"); rerr != nil {
				err = fmt.Errorf("%w (rollback to savepoint: %v)", err, rerr)
			}
		}
		if _, rerr := tx.Exec("RELEASE SAVEPOINT gc"); rerr != nil && err == nil {
			err = fmt.Errorf("release savepoint: %w", rerr)
		}
	}()
	return fn(tx)
}
