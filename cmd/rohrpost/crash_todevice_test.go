package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
)

// TestKillDuringToDeviceSends kills the server with SIGKILL while several
// devices send to-device messages to one device, restarts it, and checks
// that the receiver gets every acknowledged message exactly once, each
// sender's in the order sent, also when a sender retries the request
// that was in flight at the kill.
func TestKillDuringToDeviceSends(t *testing.T) {
	p := newServerProcess(t)
	p.start(t)
	ctx := context.Background()
	receiver := registerClient(t, p.url, "empfaenger")
	const senders = 4
	clients := make([]*mautrix.Client, senders)
	for i := range clients {
		clients[i] = registerClient(t, p.url, "absender")
	}
	send := func(cli *mautrix.Client, txnID, body string) error {
		url := cli.BuildClientURL("v3", "sendToDevice", "de.bund.test", txnID)
		req := map[string]any{"messages": map[string]any{receiver.UserID.String(): map[string]any{
			receiver.DeviceID.String(): map[string]any{"body": body}}}}
		_, err := cli.MakeRequest(ctx, "PUT", url, req, nil)
		return err
	}

	var mu sync.Mutex
	ackedBy := make([][]string, senders)
	inFlight := make([]string, senders)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, cli := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("%d/%d", i, n)
				mu.Lock()
				inFlight[i] = body
				mu.Unlock()
				if err := send(cli, body, body); err != nil {
					return // the server died under us
				}
				mu.Lock()
				ackedBy[i] = append(ackedBy[i], body)
				inFlight[i] = ""
				mu.Unlock()
			}
		}()
	}
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := 0
		for _, a := range ackedBy {
			n += len(a)
		}
		mu.Unlock()
		if n >= 300 {
			break
		}
	}
	p.kill(t)
	close(stop)
	wg.Wait()
	total := 0
	for _, a := range ackedBy {
		total += len(a)
	}
	if total == 0 {
		t.Fatal("no send was acknowledged before the kill")
	}
	t.Logf("%d to-device messages acknowledged before SIGKILL", total)

	p.start(t)
	defer p.stop(t)
	// A retry of the request in flight sends nothing twice.
	for i, body := range inFlight {
		if body == "" {
			continue
		}
		if err := send(clients[i], body, body); err != nil {
			t.Fatalf("retry after restart: %v", err)
		}
		ackedBy[i] = append(ackedBy[i], body)
	}

	// The receiver syncs, acknowledging each batch, until nothing comes.
	got := map[string]int{}
	var order []string
	since := ""
	for {
		resp, err := receiver.SyncRequest(ctx, 0, since, "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.ToDevice.Events {
			body, _ := ev.Content.Raw["body"].(string)
			got[body]++
			order = append(order, body)
		}
		since = resp.NextBatch
		if len(resp.ToDevice.Events) == 0 {
			break
		}
	}
	pos := map[string]int{}
	for i, body := range order {
		if got[body] != 1 {
			t.Fatalf("message %s delivered %d times", body, got[body])
		}
		pos[body] = i
	}
	for s, list := range ackedBy {
		last := -1
		for _, body := range list {
			at, ok := pos[body]
			if !ok {
				t.Fatalf("acknowledged message %s lost", body)
			}
			if at < last {
				t.Fatalf("sender %d's messages out of order", s)
			}
			last = at
		}
	}
	if len(order) > total+senders {
		t.Fatalf("%d messages delivered, at most %d were sent", len(order), total+senders)
	}
}
