package roomserver

import (
	"github.com/rohrpost/rohrpost/roomserver/storage"

	"context"
	"errors"
	"testing"
	"time"
)

// blockLoop submits a task that holds the input loop until release is
// closed, and returns once the loop runs it.
func blockLoop(t *testing.T, s *Server) (release chan struct{}, finished chan error) {
	t.Helper()
	release, running, finished := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := s.submit(context.Background(), func(*batch) (any, error) {
			close(running)
			<-release
			return nil, nil
		})
		finished <- err
	}()
	<-running
	return release, finished
}

// Stop fails the tasks still queued instead of leaving their callers
// waiting for ever, and a submit after Stop fails at once.
func TestStopFailsQueuedTasks(t *testing.T) {
	s := newTestServer(t)
	release, blocked := blockLoop(t, s)
	results := make(chan error, 10)
	for range 10 {
		go func() {
			_, err := s.submit(context.Background(), func(*batch) (any, error) { return "ran", nil })
			results <- err
		}()
	}
	for len(s.tasks) < 10 {
		time.Sleep(time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { s.Stop(); close(stopped) }()
	for {
		select {
		case <-s.quit:
		default:
			time.Sleep(time.Millisecond)
			continue
		}
		break
	}
	close(release)
	timeout := time.After(10 * time.Second)
	for i := range 10 {
		select {
		case err := <-results:
			if err != nil && !errors.Is(err, errStopping) {
				t.Fatalf("queued task %d: %v", i, err)
			}
		case <-timeout:
			t.Fatalf("%d of 10 queued tasks still wait after Stop", 10-i)
		}
	}
	<-stopped
	if err := <-blocked; err != nil {
		t.Fatalf("the running task: %v", err)
	}
	if _, err := s.submit(context.Background(), func(*batch) (any, error) { return nil, nil }); !errors.Is(err, errStopping) {
		t.Fatalf("submit after Stop: %v", err)
	}
}

// A task that panics after changing a working copy of a room leaves
// nothing behind: the other tasks of its batch see the room as it was,
// they still succeed, and the published room is unchanged.
func TestPanicLeavesNoWorkingCopy(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	res, err := s.CreateRoom(ctx, CreateRoomRequest{Creator: user(t, "@alice:test.local")})
	if err != nil {
		t.Fatal(err)
	}
	roomID := res.RoomID
	before, err := s.room(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	depth, exts := before.depth, append([]string(nil), before.extremities...)

	release, _ := blockLoop(t, s)
	type outcome struct {
		res any
		err error
	}
	panicked, reader := make(chan outcome, 1), make(chan outcome, 1)
	go func() {
		r, err := s.submit(ctx, func(b *batch) (any, error) {
			r, err := b.room(ctx, roomID)
			if err != nil {
				return nil, err
			}
			r.depth += 1000
			r.extremities = []string{"$nicht-da"}
			r.dirty = true
			b.txns[txnKeyForTest()] = "$nicht-da"
			panic("mitten im Schreiben")
		})
		panicked <- outcome{r, err}
	}()
	for len(s.tasks) < 1 {
		time.Sleep(time.Millisecond)
	}
	go func() {
		r, err := s.submit(ctx, func(b *batch) (any, error) {
			r, err := b.room(ctx, roomID)
			if err != nil {
				return nil, err
			}
			_, seen := b.txns[txnKeyForTest()]
			return []any{r.depth, seen}, nil
		})
		reader <- outcome{r, err}
	}()
	for len(s.tasks) < 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if o := <-panicked; o.err == nil {
		t.Fatal("the panicking task succeeded")
	}
	o := <-reader
	if o.err != nil {
		t.Fatalf("the other task of the batch: %v", o.err)
	}
	if got := o.res.([]any); got[0] != depth || got[1] != false {
		t.Fatalf("the other task saw depth %v (want %d) and the panicked task's txn id: %v", got[0], depth, got[1])
	}
	after, err := s.room(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	if after.depth != depth || len(after.extremities) != len(exts) || after.extremities[0] != exts[0] {
		t.Fatalf("published room changed: depth %d extremities %v, was %d %v", after.depth, after.extremities, depth, exts)
	}
}

func txnKeyForTest() storage.TxnKey {
	return storage.TxnKey{UserID: "@alice:test.local", DeviceID: "D", Endpoint: "send", TxnID: "panik"}
}
