package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// deployment is one started by scripts/services.sh.
type deployment struct {
	t    *testing.T
	dir  string
	port int
}

func (d *deployment) script(args ...string) string {
	d.t.Helper()
	cmd := exec.Command("../../scripts/services.sh", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("services.sh %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// url is where one process listens (offsets as in services.sh).
func (d *deployment) url(offset int) string {
	return fmt.Sprintf("http://127.0.0.1:%d", d.port+offset)
}

// freePortRange finds n consecutive free ports.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for base := 18600; base < 30000; base += n {
		free := true
		for p := base; p < base+n && free; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func startDeployment(t *testing.T) *deployment {
	if os.Getenv("ROHRPOST_TEST_SERVICES") == "" {
		t.Skip("starts a whole services deployment with PostgreSQL and nats-server; scripts/test.sh sets ROHRPOST_TEST_SERVICES=1")
	}
	// Not t.TempDir(): PostgreSQL runs as its own user when the tests run
	// as root and must be able to reach its directory.
	dir, err := os.MkdirTemp("", "rohrpost-services-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Nine processes, each with a metrics port 10 above its own.
	d := &deployment{t: t, dir: dir, port: freePortRange(t, 19)}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("sh", "-c", "tail -n 30 "+d.dir+"/logs/*.log").CombinedOutput()
			t.Logf("logs:\n%s", out)
		}
		_ = exec.Command("../../scripts/services.sh", "down", d.dir).Run()
		_ = os.RemoveAll(d.dir)
	})
	out := d.script("up", fmt.Sprint(d.port), d.dir)
	if !strings.Contains(out, "ready on") {
		t.Fatalf("services.sh up: %s", out)
	}
	return d
}

// TestServicesDeployment chats through a deployment of separate processes
// on deploy/rohrpost.yaml as shipped (scripts/services.sh puts local
// addresses in): replicas of the sync and client APIs serve the same
// users, media goes up and down through the gateway, and killing
// each process in turn (kill -9) loses and duplicates nothing.
func TestServicesDeployment(t *testing.T) {
	d := startDeployment(t)
	ctx := context.Background()
	gw := d.url(0)
	alice, bob := apptest.RegisterAt(t, gw, "alice"), apptest.RegisterAt(t, gw, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}

	t.Run("replicas", func(t *testing.T) {
		// Bob long-polls syncapi-1 while Alice sends through clientapi-2.
		bobOnSync1 := at(t, d.url(3), bob)
		aliceOnClient2 := at(t, d.url(5+1), alice)
		first, err := bobOnSync1.SyncRequest(ctx, 0, "", "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan *mautrix.RespSync, 1)
		go func() {
			resp, err := bobOnSync1.SyncRequest(ctx, 20000, first.NextBatch, "", false, "")
			if err != nil {
				t.Error(err)
			}
			done <- resp
		}()
		time.Sleep(300 * time.Millisecond)
		sent, err := aliceOnClient2.SendText(ctx, room.RoomID, "über die andere Instanz")
		if err != nil {
			t.Fatal(err)
		}
		resp := <-done
		if resp == nil || !timelineHas(resp, room.RoomID, sent.EventID) {
			t.Fatal("the long-poll on syncapi-1 did not wake with the event sent through clientapi-2")
		}
		// And typing set through syncapi-2 reaches a sync on syncapi-1.
		aliceOnSync2 := at(t, d.url(4), alice)
		next := resp.NextBatch
		go func() {
			resp, err := bobOnSync1.SyncRequest(ctx, 20000, next, "", false, "")
			if err != nil {
				t.Error(err)
			}
			done <- resp
		}()
		time.Sleep(300 * time.Millisecond)
		if _, err := aliceOnSync2.UserTyping(ctx, room.RoomID, true, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		resp = <-done
		if resp == nil || !typingHas(resp, room.RoomID, alice.UserID) {
			t.Fatal("typing set on syncapi-2 did not reach the long-poll on syncapi-1")
		}
		// A peek made through syncapi-2 wakes the same device's long-poll
		// on syncapi-1.
		if _, err := alice.SendStateEvent(ctx, room.RoomID, event.StateHistoryVisibility, "",
			map[string]any{"history_visibility": "world_readable"}); err != nil {
			t.Fatal(err)
		}
		carol := apptest.RegisterAt(t, gw, "carol")
		carolOnSync1, carolOnSync2 := at(t, d.url(3), carol), at(t, d.url(4), carol)
		carolFirst, err := carolOnSync1.SyncRequest(ctx, 0, "", "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		peeked := make(chan map[string]any, 1)
		go func() {
			var body map[string]any
			url := carolOnSync1.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "sync"},
				map[string]string{"since": carolFirst.NextBatch, "timeout": "20000"})
			if _, err := carolOnSync1.MakeRequest(ctx, "GET", url, nil, &body); err != nil {
				t.Error(err)
			}
			peeked <- body
		}()
		time.Sleep(300 * time.Millisecond)
		if _, err := carolOnSync2.MakeRequest(ctx, "POST", carolOnSync2.BuildClientURL("v3", "peek", room.RoomID), struct{}{}, nil); err != nil {
			t.Fatal(err)
		}
		body := <-peeked
		rooms, _ := body["rooms"].(map[string]any)
		peeks, _ := rooms["peek"].(map[string]any)
		if _, ok := peeks[room.RoomID.String()]; !ok {
			t.Fatalf("the long-poll on syncapi-1 did not wake with the peek made through syncapi-2: rooms = %v", rooms)
		}
	})

	t.Run("to-device across replicas", func(t *testing.T) {
		toDeviceAcrossReplicas(t, d, alice, bob)
	})

	t.Run("push once across replicas", func(t *testing.T) {
		pushOnceAcrossReplicas(t, alice, bob, room.RoomID)
	})

	t.Run("media through the gateway", func(t *testing.T) {
		mediaThroughGateway(t, d, alice, bob)
	})

	t.Run("kill -9 each process", func(t *testing.T) {
		killEachProcess(t, d, alice, bob, room.RoomID)
	})
}

// at is cli's session on another base URL.
func at(t *testing.T, url string, cli *mautrix.Client) *mautrix.Client {
	t.Helper()
	c, err := mautrix.NewClient(url, cli.UserID, cli.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func timelineHas(resp *mautrix.RespSync, roomID id.RoomID, eventID id.EventID) bool {
	if r := resp.Rooms.Join[roomID]; r != nil {
		for _, ev := range r.Timeline.Events {
			if ev.ID == eventID {
				return true
			}
		}
	}
	return false
}

func typingHas(resp *mautrix.RespSync, roomID id.RoomID, user id.UserID) bool {
	if r := resp.Rooms.Join[roomID]; r != nil {
		for _, ev := range r.Ephemeral.Events {
			if ev.Type != event.EphemeralEventTyping {
				continue
			}
			_ = ev.Content.ParseRaw(ev.Type)
			for _, u := range ev.Content.AsTyping().UserIDs {
				if u == user {
					return true
				}
			}
		}
	}
	return false
}

// killEachProcess sends and syncs continuously while every process of the
// deployment is killed and restarted in turn, then checks that the
// receiver saw every acknowledged event exactly once, in order.
func killEachProcess(t *testing.T, d *deployment, alice, bob *mautrix.Client, roomID id.RoomID) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	syncCtx, stopSync := context.WithCancel(context.Background())
	defer stopSync()
	var mu sync.Mutex
	var acked []id.EventID
	ackCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	// The sender starts once the receiver has its first token, so that
	// every acknowledged event comes in an incremental sync.
	synced := make(chan struct{})
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		select {
		case <-synced:
		case <-ctx.Done():
			return
		}
		for i := 0; ctx.Err() == nil; i++ {
			txn := fmt.Sprintf("kill-%d", i)
			for ctx.Err() == nil {
				sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				resp, err := alice.SendMessageEvent(sctx, roomID, event.EventMessage,
					map[string]any{"msgtype": "m.text", "body": txn}, mautrix.ReqSendEvent{TransactionID: txn})
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, resp.EventID)
					mu.Unlock()
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()

	var smu sync.Mutex
	var seen []id.EventID
	var lastSince string
	var lastSyncAt time.Time
	seenCount := map[id.EventID]int{}
	syncDone := make(chan struct{})
	syncErr := make(chan error, 1)
	go func() {
		defer close(syncDone)
		filter := `{"room":{"timeline":{"limit":1000,"types":["m.room.message"]}}}`
		first, err := retrySync(syncCtx, bob, "", filter, 0)
		if err != nil {
			syncErr <- err
			return
		}
		since := first.NextBatch
		close(synced)
		for syncCtx.Err() == nil {
			resp, err := retrySync(syncCtx, bob, since, filter, 5000)
			if err != nil {
				return
			}
			if r := resp.Rooms.Join[roomID]; r != nil {
				if r.Timeline.Limited {
					syncErr <- fmt.Errorf("a sync after %s came limited: events would be skipped", since)
					return
				}
				smu.Lock()
				for _, ev := range r.Timeline.Events {
					seen = append(seen, ev.ID)
					seenCount[ev.ID]++
				}
				smu.Unlock()
			}
			since = resp.NextBatch
			smu.Lock()
			lastSince, lastSyncAt = since, time.Now()
			smu.Unlock()
		}
	}()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	start := ackCount()
	waitFor("the first sends", func() bool { return ackCount() >= start+5 })
	for _, name := range strings.Fields(d.script("names", d.dir)) {
		before := ackCount()
		d.script("kill", d.dir, name)
		time.Sleep(300 * time.Millisecond)
		d.script("start", d.dir, name)
		waitFor("sends after restarting "+name, func() bool { return ackCount() >= before+5 })
		t.Logf("%s killed and restarted; %d events acknowledged so far", name, ackCount())
	}
	stop()
	<-senderDone
	mu.Lock()
	want := append([]id.EventID(nil), acked...)
	mu.Unlock()

	// The receiver catches up, then stops.
	deadline := time.Now().Add(30 * time.Second)
	for {
		smu.Lock()
		n := len(seen)
		smu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopSync()
	<-syncDone
	select {
	case err := <-syncErr:
		t.Fatal(err)
	default:
	}
	smu.Lock()
	defer smu.Unlock()
	for _, ev := range want {
		if seenCount[ev] != 1 {
			t.Errorf("event %s seen %d times in /sync", ev, seenCount[ev])
		}
	}
	if len(seen) < len(want) {
		again, err := bob.SyncRequest(context.Background(), 0, lastSince, "", false, "")
		found := err == nil && timelineHas(again, roomID, want[len(want)-1])
		t.Fatalf("/sync delivered %d of %d acknowledged events; last sync answered %v ago with %s; a sync from there now finds the last event: %v (err %v)",
			len(seen), len(want), time.Since(lastSyncAt), lastSince, found, err)
	}
	// seen may hold events sent after the last acknowledgement (a send
	// whose answer was lost when the sender stopped); the acknowledged
	// ones come first and in order.
	for i, ev := range want {
		if seen[i] != ev {
			t.Fatalf("/sync order differs at %d: got %s, want %s", i, seen[i], ev)
		}
	}
	checkMessages(t, bob, roomID, want)
	t.Logf("%d events acknowledged, each delivered once and in order", len(want))
}

// retrySync is one sync, retried while processes restart.
func retrySync(ctx context.Context, cli *mautrix.Client, since, filter string, timeout int) (*mautrix.RespSync, error) {
	for {
		resp, err := cli.SyncRequest(ctx, timeout, since, filter, false, "")
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkMessages pages /messages backwards and finds want in order, once.
func checkMessages(t *testing.T, cli *mautrix.Client, roomID id.RoomID, want []id.EventID) {
	t.Helper()
	ctx := context.Background()
	var got []id.EventID
	from := ""
	for {
		resp, err := cli.Messages(ctx, roomID, from, "", mautrix.DirectionBackward, &mautrix.FilterPart{Types: []event.Type{event.EventMessage}}, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Chunk {
			got = append(got, ev.ID)
		}
		if resp.End == "" || len(resp.Chunk) == 0 {
			break
		}
		from = resp.End
	}
	pos := map[id.EventID]int{}
	for i, ev := range got {
		if _, dup := pos[ev]; dup {
			t.Fatalf("/messages returned %s twice", ev)
		}
		pos[ev] = i
	}
	last := len(got)
	for _, ev := range want {
		i, ok := pos[ev]
		if !ok {
			t.Fatalf("/messages lacks acknowledged event %s", ev)
		}
		if i >= last {
			t.Fatalf("/messages has %s out of order", ev)
		}
		last = i
	}
}
