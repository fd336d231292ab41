package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// Concurrent retries of one send (the same transaction id) all get the one
// event id, and they fail nobody else's request in the same batch of the
// roomserver's input (issue 10): in each round alice sends one message 12
// times at once under one transaction id while bob sends 12 messages of
// his own.
func TestConcurrentSameTxnID(t *testing.T) {
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	const rounds, senders = 15, 12
	failures := 0
	for round := range rounds {
		txnID := fmt.Sprintf("retry-%d", round)
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			aliceIDs  = map[id.EventID]int{}
			roundErrs []error
		)
		start := make(chan struct{})
		send := func(cli *mautrix.Client, txn, body string, record bool) {
			defer wg.Done()
			<-start
			res, err := cli.SendMessageEvent(ctx, room.RoomID, event.EventMessage,
				map[string]any{"msgtype": "m.text", "body": body}, mautrix.ReqSendEvent{TransactionID: txn})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				roundErrs = append(roundErrs, fmt.Errorf("%s: %w", cli.UserID, err))
				return
			}
			if record {
				aliceIDs[res.EventID]++
			}
		}
		for i := range senders {
			wg.Add(2)
			go send(alice, txnID, fmt.Sprintf("alice %d", round), true)
			go send(bob, fmt.Sprintf("bob-%d-%d", round, i), fmt.Sprintf("bob %d.%d", round, i), false)
		}
		close(start)
		wg.Wait()
		failures += len(roundErrs)
		for _, err := range roundErrs {
			t.Errorf("round %d: %v", round, err)
		}
		if len(aliceIDs) > 1 {
			t.Errorf("round %d: one transaction id gave %d events: %v", round, len(aliceIDs), aliceIDs)
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d requests failed", failures, rounds*senders*2)
	}
	// The timeline holds each of alice's messages once.
	msgs, err := bob.Messages(ctx, room.RoomID, "", "", mautrix.DirectionBackward, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, ev := range msgs.Chunk {
		if ev.Sender == alice.UserID && ev.Type == event.EventMessage {
			seen[ev.Content.Raw["body"].(string)]++
		}
	}
	for round := range rounds {
		if n := seen[fmt.Sprintf("alice %d", round)]; n != 1 {
			t.Errorf("alice's message of round %d is in the timeline %d times", round, n)
		}
	}
}
