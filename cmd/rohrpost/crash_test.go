package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/testdb"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rohrpost-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "rohrpost")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("build rohrpost: " + err.Error())
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// serverProcess is the real binary on a config in dir.
type serverProcess struct {
	dir, url string
	cmd      *exec.Cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newServerProcess(t *testing.T) *serverProcess {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	db := "database:\n  type: sqlite\n"
	if uri := testdb.PostgresURI(); uri != "" {
		db = fmt.Sprintf("database:\n  type: postgres\n  uri: %s\n", uri)
	}
	cfg := fmt.Sprintf(`server_name: localhost
listeners:
  - bind_address: 127.0.0.1
    port: %d
    resources: [client, federation]
%senable_registration: true
enable_registration_without_verification: true
rate_limiting:
  enabled: false
log_file: %s/rohrpost.log
`, port, db, dir)
	if err := os.WriteFile(filepath.Join(dir, "rohrpost.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &serverProcess{dir: dir, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

func (p *serverProcess) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(binary, "--config", filepath.Join(p.dir, "rohrpost.yaml"))
	p.cmd.Dir = p.dir
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server did not become ready")
}

func (p *serverProcess) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *serverProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exited with %v after SIGINT, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("server did not stop within 30s of SIGINT")
		p.kill(t)
	}
}

type acked struct {
	txnID, eventID, body string
}

// TestKillDuringConcurrentSends kills the server with SIGKILL while
// several clients send, restarts it, and checks that every acknowledged
// event is there exactly once and in order, that a retried transaction
// gets its original event id, and that sync and /messages agree.
func TestKillDuringConcurrentSends(t *testing.T) {
	p := newServerProcess(t)
	p.start(t)
	ctx := context.Background()
	owner := registerClient(t, p.url, "owner")
	created, err := owner.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	const senders = 5
	clients := make([]*mautrix.Client, senders)
	for i := range clients {
		clients[i] = registerClient(t, p.url, "sender")
		if _, err := clients[i].JoinRoomByID(ctx, room); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	ackedBy := make([][]acked, senders)
	inFlight := make([]*acked, senders)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, cli := range clients {
		wg.Add(1)
		go func(i int, cli *mautrix.Client) {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				a := acked{txnID: fmt.Sprintf("txn-%d-%d", i, n), body: fmt.Sprintf("m %d %d", i, n)}
				mu.Lock()
				inFlight[i] = &a
				mu.Unlock()
				resp, err := cli.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{"msgtype": "m.text", "body": a.body},
					mautrix.ReqSendEvent{TransactionID: a.txnID})
				if err != nil {
					return // the server died under us
				}
				a.eventID = resp.EventID.String()
				mu.Lock()
				ackedBy[i] = append(ackedBy[i], a)
				inFlight[i] = nil
				mu.Unlock()
			}
		}(i, cli)
	}
	// Kill mid-stream, early enough that one /sync timeline (at most 1000
	// events) still holds the whole room.
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := 0
		for _, a := range ackedBy {
			n += len(a)
		}
		mu.Unlock()
		if n >= 400 {
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
	t.Logf("%d events acknowledged before SIGKILL", total)

	p.start(t)
	defer p.stop(t)
	// Retrying the request that was in flight must not create a second
	// event if the first attempt was committed.
	for i, a := range inFlight {
		if a == nil {
			continue
		}
		resp, err := clients[i].SendMessageEvent(ctx, room, event.EventMessage, map[string]any{"msgtype": "m.text", "body": a.body},
			mautrix.ReqSendEvent{TransactionID: a.txnID})
		if err != nil {
			t.Fatalf("retry after restart: %v", err)
		}
		a.eventID = resp.EventID.String()
		ackedBy[i] = append(ackedBy[i], *a)
	}

	fromMessages := eventIDsFromMessages(t, owner, room)
	fromSync := eventIDsFromSync(t, owner, room)
	for name, got := range map[string][]string{"/messages": fromMessages, "/sync": fromSync} {
		pos := map[string]int{}
		for i, e := range got {
			if _, dup := pos[e]; dup {
				t.Fatalf("%s: event %s appears twice", name, e)
			}
			pos[e] = i
		}
		for s, list := range ackedBy {
			last := -1
			for _, a := range list {
				at, ok := pos[a.eventID]
				if !ok {
					t.Fatalf("%s: acknowledged event %s (%s) lost", name, a.eventID, a.body)
				}
				if at < last {
					t.Fatalf("%s: sender %d's events out of order", name, s)
				}
				last = at
			}
		}
	}
}

func registerClient(t *testing.T, url, name string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(url, "", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.RegisterDummy(context.Background(), &mautrix.ReqRegister{
		Username: fmt.Sprintf("%s%d", name, time.Now().UnixNano()), Password: "correct horse battery staple"})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	cli.UserID, cli.AccessToken = resp.UserID, resp.AccessToken
	cli.DeviceID = resp.DeviceID
	return cli
}

func eventIDsFromMessages(t *testing.T, cli *mautrix.Client, room id.RoomID) []string {
	t.Helper()
	var ids []string
	from := ""
	for {
		resp, err := cli.Messages(context.Background(), room, from, "", mautrix.DirectionForward, nil, 100)
		if err != nil {
			t.Fatalf("messages: %v", err)
		}
		for _, ev := range resp.Chunk {
			if ev.Type == event.EventMessage {
				ids = append(ids, ev.ID.String())
			}
		}
		if resp.End == "" || len(resp.Chunk) == 0 {
			return ids
		}
		from = resp.End
	}
}

func eventIDsFromSync(t *testing.T, cli *mautrix.Client, room id.RoomID) []string {
	t.Helper()
	resp, err := cli.SyncRequest(context.Background(), 0, "", `{"room":{"timeline":{"limit":100000}}}`, false, "")
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	var ids []string
	for _, ev := range resp.Rooms.Join[room].Timeline.Events {
		if ev.Type == event.EventMessage {
			ids = append(ids, ev.ID.String())
		}
	}
	return ids
}
