package app_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestMessagesPagingUnderConcurrentSenders fills a room from several
// concurrent senders and pages it back in small steps: every message must
// come back exactly once, each sender's in the order it sent them.
func TestMessagesPagingUnderConcurrentSenders(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	owner := srv.Register(t, "owner")
	created, err := owner.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	const senders, perSender = 6, 40
	clients := make([]*mautrix.Client, senders)
	for i := range clients {
		clients[i] = srv.Register(t, "sender")
		if _, err := clients[i].JoinRoomByID(ctx, room); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i, cli := range clients {
		wg.Add(1)
		go func(i int, cli *mautrix.Client) {
			defer wg.Done()
			for n := 0; n < perSender; n++ {
				if _, err := cli.SendText(ctx, room, fmt.Sprintf("m %d %d", i, n)); err != nil {
					errs <- err
					return
				}
			}
		}(i, cli)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send: %v", err)
	}

	for _, dir := range []mautrix.Direction{mautrix.DirectionBackward, mautrix.DirectionForward} {
		t.Run(string(dir), func(t *testing.T) {
			bodies := pageAll(t, owner, room, dir, 7)
			if dir == mautrix.DirectionBackward {
				slices.Reverse(bodies)
			}
			checkExactlyOnceInOrder(t, bodies, senders, perSender)
		})
	}
}

func pageAll(t *testing.T, cli *mautrix.Client, room id.RoomID, dir mautrix.Direction, limit int) []string {
	t.Helper()
	var bodies []string
	from := ""
	for page := 0; page < 1000; page++ {
		resp, err := cli.Messages(context.Background(), room, from, "", dir, nil, limit)
		if err != nil {
			t.Fatalf("messages: %v", err)
		}
		for _, ev := range resp.Chunk {
			if ev.Type == event.EventMessage {
				_ = ev.Content.ParseRaw(ev.Type)
				bodies = append(bodies, ev.Content.AsMessage().Body)
			}
		}
		// Forwards, "end" stays for continuing live; an empty page ends.
		if resp.End == "" || len(resp.Chunk) == 0 {
			return bodies
		}
		from = resp.End
	}
	t.Fatal("pagination did not end")
	return nil
}

// checkExactlyOnceInOrder expects bodies "m <sender> <n>" in chronological
// order: each once, each sender's n ascending.
func checkExactlyOnceInOrder(t *testing.T, bodies []string, senders, perSender int) {
	t.Helper()
	next := make([]int, senders)
	for _, b := range bodies {
		var s, n int
		if _, err := fmt.Sscanf(b, "m %d %d", &s, &n); err != nil || !strings.HasPrefix(b, "m ") {
			t.Fatalf("unexpected message %q", b)
		}
		if n != next[s] {
			t.Fatalf("sender %d: got message %d, want %d (duplicate, loss or reordering)", s, n, next[s])
		}
		next[s]++
	}
	for s, n := range next {
		if n != perSender {
			t.Fatalf("sender %d: %d of %d messages came back", s, n, perSender)
		}
	}
}
