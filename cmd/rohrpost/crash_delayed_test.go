package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// TestKillWithDelayedEvents kills the server with SIGKILL right after a
// client scheduled delayed events: the acknowledged ones are on disk, the
// one that fell due while the server was down is sent when it is back,
// and the one not yet due is still scheduled.
func TestKillWithDelayedEvents(t *testing.T) {
	p := newServerProcess(t)
	f, err := os.OpenFile(filepath.Join(p.dir, "rohrpost.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("max_event_delay_duration: 1h\n"); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	p.start(t)
	ctx := context.Background()
	alice := registerClient(t, p.url, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	schedule := func(body string, delay time.Duration) string {
		resp, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": body},
			mautrix.ReqSendEvent{UnstableDelay: delay})
		if err != nil || resp.UnstableDelayID == "" {
			t.Fatalf("schedule %q: %v %+v", body, err, resp)
		}
		return string(resp.UnstableDelayID)
	}
	schedule("sent after the crash", 1500*time.Millisecond)
	later := schedule("still waiting", time.Hour)
	p.kill(t)
	time.Sleep(2 * time.Second)
	p.start(t)
	defer p.stop(t)

	deadline := time.Now().Add(30 * time.Second)
	found := false
	for !found && time.Now().Before(deadline) {
		resp, err := alice.Messages(ctx, room.RoomID, "", "", mautrix.DirectionBackward, nil, 50)
		if err == nil {
			for _, ev := range resp.Chunk {
				found = found || (ev.Type == event.EventMessage && ev.Content.Raw["body"] == "sent after the crash")
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !found {
		t.Fatal("the delayed event that fell due while the server was down was not sent after the restart")
	}
	list, err := alice.DelayedEvents(ctx, &mautrix.ReqDelayedEvents{})
	if err != nil || len(list.Scheduled) != 1 || string(list.Scheduled[0].DelayID) != later {
		t.Fatalf("scheduled after the restart: %v %s", err, fmt.Sprint(list))
	}
}
