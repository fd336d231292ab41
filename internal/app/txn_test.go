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
	t.Parallel()
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

// putEvent sends a message under a transaction id and returns its id.
func putEvent(t *testing.T, cli *mautrix.Client, room id.RoomID, evType, txnID, body string) id.EventID {
	t.Helper()
	res, err := cli.SendMessageEvent(context.Background(), room, event.Type{Type: evType, Class: event.MessageEventType},
		map[string]any{"msgtype": "m.text", "body": body}, mautrix.ReqSendEvent{TransactionID: txnID})
	if err != nil {
		t.Fatalf("send %s %s in %s: %v", evType, txnID, room, err)
	}
	return res.EventID
}

// A transaction id is scoped to the endpoint, the path with its room and
// event type (issue 15): the same id in another room or for another event
// type is a new request, and to-device messages of two types are two
// messages.
func TestTxnIDScopedToEndpoint(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	roomA, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	roomB, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	inA := putEvent(t, alice, roomA.RoomID, "m.room.message", "same", "in A")
	inB := putEvent(t, alice, roomB.RoomID, "m.room.message", "same", "in B")
	custom := putEvent(t, alice, roomA.RoomID, "de.bund.custom", "same", "custom in A")
	if inA == inB || inA == custom || inB == custom {
		t.Fatalf("one transaction id on three endpoints gave %s, %s, %s", inA, inB, custom)
	}
	if again := putEvent(t, alice, roomA.RoomID, "m.room.message", "same", "in A"); again != inA {
		t.Fatalf("the retry in room A gave %s, want %s", again, inA)
	}
	for room, want := range map[id.RoomID]id.EventID{roomA.RoomID: inA, roomB.RoomID: inB} {
		ev, err := alice.GetEvent(ctx, room, want)
		if err != nil || ev.RoomID != room {
			t.Errorf("event %s in %s: %v %v", want, room, ev, err)
		}
	}
	// A redaction under the same id is another endpoint again.
	redactPath := "/rooms/" + roomA.RoomID.String() + "/redact/" + custom.String() + "/same"
	if status, body := rawCall(t, alice, "PUT", redactPath, map[string]any{}); status != 200 || body["event_id"] == "" ||
		body["event_id"] == inA.String() || body["event_id"] == custom.String() {
		t.Fatalf("redaction under the same transaction id: %d %v", status, body)
	}

	// To-device messages: the event type is part of the endpoint.
	to := map[string]map[string]any{bob.UserID.String(): {bob.DeviceID.String(): map[string]any{"body": "x"}}}
	for _, evType := range []string{"de.bund.one", "de.bund.two", "de.bund.one"} {
		if status, body := rawCall(t, alice, "PUT", "/sendToDevice/"+evType+"/same", map[string]any{"messages": to}); status != 200 {
			t.Fatalf("sendToDevice %s: %d %v", evType, status, body)
		}
	}
	resp, err := bob.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range resp.ToDevice.Events {
		types = append(types, ev.Type.Type)
	}
	if len(types) != 2 || types[0] != "de.bund.one" || types[1] != "de.bund.two" {
		t.Fatalf("bob received to-device messages of types %v, want de.bund.one and de.bund.two once each", types)
	}
}

// A transaction id is scoped to the device, not to the access token
// (issue 15): a login that takes over the device id (a new access token
// for the same device) sees the device's transactions; another device
// does not.
func TestTxnIDScopedToDevice(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	first := putEvent(t, alice, room.RoomID, "m.room.message", "t1", "once")
	to := map[string]map[string]any{bob.UserID.String(): {bob.DeviceID.String(): map[string]any{"body": "x"}}}
	if status, body := rawCall(t, alice, "PUT", "/sendToDevice/de.bund.test/t1", map[string]any{"messages": to}); status != 200 {
		t.Fatalf("sendToDevice: %d %v", status, body)
	}

	sameDevice := loginAgain(t, srv, alice, alice.DeviceID.String())
	if again := putEvent(t, sameDevice, room.RoomID, "m.room.message", "t1", "once"); again != first {
		t.Errorf("the same device with a new access token got %s for its transaction, want %s", again, first)
	}
	if status, body := rawCall(t, sameDevice, "PUT", "/sendToDevice/de.bund.test/t1", map[string]any{"messages": to}); status != 200 {
		t.Fatalf("sendToDevice again: %d %v", status, body)
	}
	resp, err := bob.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.ToDevice.Events); n != 1 {
		t.Errorf("bob received the retried to-device message %d times, want once", n)
	}

	otherDevice := loginAgain(t, srv, alice, "OTHERDEVICE")
	if other := putEvent(t, otherDevice, room.RoomID, "m.room.message", "t1", "twice"); other == first {
		t.Errorf("another device's transaction id gave the first device's event")
	}
}
