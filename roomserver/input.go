package roomserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// Input is ordered: one goroutine (inputLoop) applies every event, so the
// stream position of an event is its commit order and two events of one
// room never race for the same forward extremities. Throughput comes from
// batching instead of parallelism: whatever arrives while one batch commits
// goes into the next, and a batch costs one transaction and one fsync.

const maxTasksPerBatch = 128

// task is one unit of input: a closure run by the input loop against the
// batch's working state. It must validate everything before it changes the
// batch, so that a failing task leaves the batch as it found it.
type task struct {
	ctx  context.Context
	run  func(b *batch) (any, error)
	res  any
	err  error
	done chan struct{}
}

// submit queues a task and waits for its outcome, which arrives only after
// the batch holding it has committed and been published.
func (s *Server) submit(ctx context.Context, run func(b *batch) (any, error)) (any, error) {
	t := &task{ctx: ctx, run: run, done: make(chan struct{})}
	select {
	case s.tasks <- t:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.quit:
		return nil, errStopping
	}
	select {
	case <-t.done:
		return t.res, t.err
	case <-s.done:
		// The input loop has ended, and failed every task it found
		// queued before it did (closing their done first). A task that
		// got into the queue after that is never run.
		select {
		case <-t.done:
			return t.res, t.err
		default:
			return nil, errStopping
		}
	}
}

var errStopping = errors.New("roomserver stopping")

// errTaskPanicked fails a batch one of whose tasks panicked: the task may
// have changed the batch's working copies of rooms half way, so nothing of
// the batch may be committed or kept.
var errTaskPanicked = errors.New("a task of the batch panicked")

// drain fails the tasks still queued when the loop stops, so that their
// callers do not wait forever.
func (s *Server) drain() {
	for {
		select {
		case t := <-s.tasks:
			t.err = errStopping
			close(t.done)
		default:
			return
		}
	}
}

func (s *Server) inputLoop() {
	defer close(s.done)
	defer s.drain()
	for {
		var first *task
		select {
		case <-s.quit:
			return
		default:
		}
		select {
		case first = <-s.tasks:
		case <-s.quit:
			return
		}
		tasks := []*task{first}
	gather:
		for len(tasks) < maxTasksPerBatch {
			select {
			case t := <-s.tasks:
				tasks = append(tasks, t)
			default:
				break gather
			}
		}
		s.runBatch(tasks)
	}
}

// batch is the working state of one round of the input loop.
type batch struct {
	s        *Server
	counters storage.Counters
	rooms    map[string]*room // working copies
	write    storage.Batch
	outputs  []OutputEvent
	txns     map[storage.TxnKey]string
}

func (s *Server) runBatch(tasks []*task) {
	s.metrics.batchTasks.Observe(float64(len(tasks)))
	if err := s.commitBatch(tasks); err != nil && len(tasks) > 1 {
		// The rows of one task broke the transaction, and with it every
		// task of the batch, or a task panicked and may have left the
		// working copies half changed. Nothing was committed: run each
		// task again in a batch of its own, so that a task fails only for
		// its own reason.
		slog.Warn("roomserver batch commit failed; committing its tasks one by one", "err", err, "tasks", len(tasks))
		for _, t := range tasks {
			t.res, t.err = nil, nil
			_ = s.commitBatch([]*task{t})
		}
	}
	s.finish(tasks)
}

// commitBatch runs tasks against one working state and commits what they
// wrote in one transaction. If the commit fails, every task that had
// succeeded fails with it and the error is returned.
func (s *Server) commitBatch(tasks []*task) error {
	b := &batch{s: s, counters: s.counters, rooms: map[string]*room{}, txns: map[storage.TxnKey]string{}}
	for _, t := range tasks {
		if err := t.ctx.Err(); err != nil {
			t.err = err
			continue
		}
		m := b.mark()
		var panicked bool
		t.res, panicked, t.err = s.runTask(b, t)
		if panicked {
			// The batch is dropped whole (its working copies, rows and
			// transaction ids); the other tasks fail with it and
			// runBatch runs them again each on its own.
			for _, o := range tasks {
				if o != t && o.err == nil {
					o.res, o.err = nil, errTaskPanicked
				}
			}
			return errTaskPanicked
		}
		if t.err != nil {
			b.reset(m)
		}
	}
	b.collectRoomRows()
	if b.write.Empty() {
		return nil
	}
	err := s.store.DB().Write(context.Background(), func(tx *sql.Tx) error {
		if err := s.store.WriteBatch(tx, &b.write); err != nil {
			return err
		}
		if s.outbox == nil {
			return nil
		}
		return s.outbox.Record(tx, b.outputs)
	})
	if err != nil {
		slog.Error("roomserver batch commit failed", "err", err, "events", len(b.write.Events))
		for _, t := range tasks {
			if t.err == nil {
				t.res, t.err = nil, fmt.Errorf("store events: %w", err)
			}
		}
		return err
	}
	s.counters = b.counters
	s.commits.Add(1)
	s.metrics.committed(len(b.write.Events))
	s.roomsMu.Lock()
	for id, r := range b.rooms {
		r.stateShared, r.isNew, r.dirty = false, false, false
		s.rooms[id] = r
	}
	s.roomsMu.Unlock()
	if len(b.write.Purges) > 0 {
		s.evict(b.write.Purges)
	}
	if s.outbox != nil {
		s.outbox.Committed(b.outputs)
	}
	s.publish(b.outputs)
	for _, e := range b.write.Events {
		if e.SelfDestructTS != 0 {
			s.wakeSelfDestruct()
			break
		}
	}
	return nil
}

func (s *Server) runTask(b *batch, t *task) (res any, panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			slog.Error("roomserver task panicked", "panic", p, "stack", string(debug.Stack()))
			res, err, panicked = nil, fmt.Errorf("internal error in event input"), true
		}
	}()
	res, err = t.run(b)
	return res, false, err
}

func (s *Server) finish(tasks []*task) {
	for _, t := range tasks {
		close(t.done)
	}
}

// room returns the batch's working copy of a room.
func (b *batch) room(ctx context.Context, roomID string) (*room, error) {
	if r, ok := b.rooms[roomID]; ok {
		return r, nil
	}
	pub, err := b.s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	r := pub.clone()
	b.rooms[roomID] = r
	return r, nil
}

// addRoom registers a room created in this batch.
func (b *batch) addRoom(r *room) {
	r.isNew = true
	b.rooms[r.id] = r
}

// collectRoomRows turns the rooms this batch changed into rows.
func (b *batch) collectRoomRows() {
	for _, r := range b.rooms {
		switch {
		case r.isNew:
			b.write.NewRooms = append(b.write.NewRooms, r.row())
		case r.dirty:
			b.write.RoomUpdates = append(b.write.RoomUpdates, r.row())
		}
	}
}

// batchMark records how far a batch had got, so a failed task's rows can
// be dropped.
type batchMark struct {
	counters                                                             storage.Counters
	events, snaps, state, members, txns, redactions, outputs, positioned int
	aliasMoves, holes, closedHoles                                       int
}

func (b *batch) mark() batchMark {
	w := &b.write
	return batchMark{b.counters, len(w.Events), len(w.Snapshots), len(w.CurrentState), len(w.Memberships), len(w.Txns), len(w.Redactions), len(b.outputs), len(w.Positioned), len(w.AliasMoves), len(w.Holes), len(w.ClosedHoles)}
}

func (b *batch) reset(m batchMark) {
	w := &b.write
	b.counters = m.counters
	// A failed task's transaction ids name events that will not exist.
	for _, t := range w.Txns[m.txns:] {
		delete(b.txns, t.TxnKey)
	}
	w.Events, w.Snapshots, w.CurrentState = w.Events[:m.events], w.Snapshots[:m.snaps], w.CurrentState[:m.state]
	w.Memberships, w.Txns, w.Redactions = w.Memberships[:m.members], w.Txns[:m.txns], w.Redactions[:m.redactions]
	w.Positioned, w.AliasMoves = w.Positioned[:m.positioned], w.AliasMoves[:m.aliasMoves]
	w.Holes, w.ClosedHoles = w.Holes[:m.holes], w.ClosedHoles[:m.closedHoles]
	b.outputs = b.outputs[:m.outputs]
}

// authorise checks an event against the state before it.
func authorise(r *room, pdu gomatrixserverlib.PDU) error {
	if err := gomatrixserverlib.Allowed(pdu, r, userIDForSender); err != nil {
		return fmt.Errorf("%w: %s", ErrForbidden, err.Error())
	}
	return nil
}
