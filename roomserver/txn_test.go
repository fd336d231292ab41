package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// blockingTask queues a task that, once the input loop runs it, signals
// started and waits for release. It writes nothing.
func blockingTask(t *testing.T, s *Server) (started, release chan struct{}, done chan error) {
	t.Helper()
	started, release, done = make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := s.submit(context.Background(), func(b *batch) (any, error) {
			close(started)
			<-release
			return nil, nil
		})
		done <- err
	}()
	return started, release, done
}

// waitQueued waits until n tasks wait in the input queue.
func waitQueued(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.tasks) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks queued, want %d", len(s.tasks), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A retry of a send that passed the check for its transaction id before
// the first send committed, and reaches the input loop after, gets the
// first send's event id: it neither makes a second event nor breaks its
// batch's commit (issue 10). The order is forced: the first send commits
// while the retry waits in the queue.
func TestTxnRetryQueuedBehindTheFirstSend(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	room, err := s.CreateRoom(ctx, CreateRoomRequest{Creator: alice})
	if err != nil {
		t.Fatal(err)
	}
	req := SendEventRequest{RoomID: room.RoomID, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{"body":"once"}`),
		TxnSession: 7, TxnDevice: "PHONE", TxnEndpoint: "send/room/m.room.message", TxnID: "t1"}
	type result struct {
		res *SendEventResponse
		err error
	}
	send := func() chan result {
		ch := make(chan result, 1)
		go func() {
			res, err := s.SendEvent(ctx, req)
			ch <- result{res, err}
		}()
		return ch
	}

	// Hold the loop, queue the first send and a second holder behind it:
	// both go into the next batch.
	started0, release0, done0 := blockingTask(t, s)
	<-started0
	first := send()
	waitQueued(t, s, 1)
	started1, release1, done1 := blockingTask(t, s)
	waitQueued(t, s, 2)
	close(release0)
	<-started1
	// The first send is applied, not committed: the retry finds no
	// transaction and queues.
	retry := send()
	waitQueued(t, s, 1)
	close(release1)

	a, b := <-first, <-retry
	if a.err != nil || b.err != nil {
		t.Fatalf("first send: %v; retry: %v", a.err, b.err)
	}
	if a.res.EventID != b.res.EventID {
		t.Fatalf("the retry made event %s, the first %s", b.res.EventID, a.res.EventID)
	}
	if err := errors.Join(<-done0, <-done1); err != nil {
		t.Fatal(err)
	}
}

// A task whose rows break the batch's commit fails alone: the other
// tasks of its batch are committed (issue 10).
func TestFailingTaskFailsOnlyItself(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	room, err := s.CreateRoom(ctx, CreateRoomRequest{Creator: alice})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendEvent(ctx, SendEventRequest{RoomID: room.RoomID, Sender: alice, Type: "m.room.message",
		Content: json.RawMessage(`{}`), TxnSession: 7, TxnDevice: "PHONE", TxnEndpoint: "send/room", TxnID: "taken"}); err != nil {
		t.Fatal(err)
	}
	message := func(body string, meta eventMeta) *task {
		return &task{ctx: ctx, done: make(chan struct{}), run: func(b *batch) (any, error) {
			r, err := b.room(ctx, room.RoomID)
			if err != nil {
				return nil, err
			}
			content, _ := json.Marshal(map[string]string{"body": body})
			pdu, err := b.build(r, alice, "m.room.message", nil, content, "")
			if err != nil {
				return nil, err
			}
			return b.apply(r, pdu, meta).ID, nil
		}}
	}
	// The middle task writes a transaction row that exists already: its
	// rows cannot be committed.
	tasks := []*task{
		message("before", eventMeta{}),
		message("conflict", eventMeta{txnSession: 7, txn: storage.TxnKey{UserID: alice.String(), DeviceID: "PHONE", Endpoint: "send/room", TxnID: "taken"}}),
		message("after", eventMeta{}),
	}
	// Hold the loop so that the test runs the batch itself.
	started, release, done := blockingTask(t, s)
	<-started
	go func() {
		s.runBatch(tasks)
		close(release)
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		<-tk.done
	}
	if tasks[1].err == nil {
		t.Errorf("the conflicting task succeeded")
	}
	for _, i := range []int{0, 2} {
		if tasks[i].err != nil {
			t.Errorf("task %d failed with the conflicting one: %v", i, tasks[i].err)
			continue
		}
		id := tasks[i].res.(string)
		if ev, err := s.Event(ctx, id); err != nil || ev.RoomID != room.RoomID {
			t.Errorf("task %d's event %s: %v", i, id, err)
		}
	}
	// The room carries on from the committed events.
	if _, err := s.SendEvent(ctx, SendEventRequest{RoomID: room.RoomID, Sender: alice, Type: "m.room.message",
		Content: json.RawMessage(`{"body":"later"}`)}); err != nil {
		t.Fatal(err)
	}
}

// A task that fails after it applied an event with a transaction id
// leaves no trace of that id in its batch: a later task of the batch with
// the same id makes the event (issue 10).
func TestFailedTaskForgetsItsTransactionID(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	room, err := s.CreateRoom(ctx, CreateRoomRequest{Creator: alice})
	if err != nil {
		t.Fatal(err)
	}
	txn := storage.TxnKey{UserID: alice.String(), DeviceID: "PHONE", Endpoint: "send/room", TxnID: "t1"}
	failing := &task{ctx: ctx, done: make(chan struct{}), run: func(b *batch) (any, error) {
		r, err := b.room(ctx, room.RoomID)
		if err != nil {
			return nil, err
		}
		pdu, err := b.build(r, alice, "m.room.message", nil, json.RawMessage(`{"body":"lost"}`), "")
		if err != nil {
			return nil, err
		}
		b.apply(r, pdu, eventMeta{txn: txn})
		return nil, errors.New("failed after apply")
	}}
	retry := &task{ctx: ctx, done: make(chan struct{}), run: func(b *batch) (any, error) {
		if id, ok := b.txns[txn]; ok {
			return "stale:" + id, nil
		}
		r, err := b.room(ctx, room.RoomID)
		if err != nil {
			return nil, err
		}
		pdu, err := b.build(r, alice, "m.room.message", nil, json.RawMessage(`{"body":"kept"}`), "")
		if err != nil {
			return nil, err
		}
		return b.apply(r, pdu, eventMeta{txn: txn}).ID, nil
	}}
	started, release, done := blockingTask(t, s)
	<-started
	go func() {
		s.runBatch([]*task{failing, retry})
		close(release)
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-retry.done
	if retry.err != nil {
		t.Fatal(retry.err)
	}
	id, _ := retry.res.(string)
	if ev, err := s.Event(ctx, id); err != nil || ev.RoomID != room.RoomID {
		t.Fatalf("the retry answered %q, which is no stored event (%v)", id, err)
	}
}
