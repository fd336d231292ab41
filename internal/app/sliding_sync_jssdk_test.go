package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// jssdkDir installs matrix-js-sdk (the version of testdata/jssdk's
// package-lock.json) outside the repository, once per lock file: under
// ROHRPOST_JSSDK_CACHE or the user's cache directory
// (~/.cache/rohrpost-test/jssdk-<hash of the lock>). Without node or npm
// the test is skipped; scripts/test.sh installs both.
func jssdkDir(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (scripts/test.sh installs nodejs and npm)", tool)
		}
	}
	pkg, err := os.ReadFile("testdata/jssdk/package.json")
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.ReadFile("testdata/jssdk/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(append([]byte{}, pkg...), lock...))
	base := os.Getenv("ROHRPOST_JSSDK_CACHE")
	if base == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		base = filepath.Join(cache, "rohrpost-test")
	}
	dir := filepath.Join(base, "jssdk-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "matrix-js-sdk", "package.json")); err == nil {
		return dir
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// Installed next to its final place and renamed: a test run that
	// stops half way, or two at once, never leave a broken directory.
	tmp, err := os.MkdirTemp(base, "installing-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for name, data := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci (matrix-js-sdk): %v\n%s", err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "matrix-js-sdk", "package.json")); statErr != nil {
			t.Fatalf("install matrix-js-sdk: %v", err)
		}
	}
	return dir
}

// jsLine is one line the script prints.
type jsLine struct {
	Ready *struct {
		Pos   string             `json:"pos"`
		Count int                `json:"count"`
		Rooms map[string]*jsRoom `json:"rooms"`
	} `json:"ready"`
	Result *struct {
		Message struct {
			RoomID  string `json:"room_id"`
			Sender  string `json:"sender"`
			EventID string `json:"event_id"`
			Body    string `json:"body"`
			Initial bool   `json:"initial"`
			NumLive *int   `json:"num_live"`
		} `json:"message"`
		Count     int                `json:"count"`
		Responses int                `json:"responses"`
		Rooms     map[string]*jsRoom `json:"rooms"`
	} `json:"result"`
}

type jsRoom struct {
	Name           string   `json:"name"`
	Bodies         []string `json:"bodies"`
	StateTypes     []string `json:"state_types"`
	Initial        []bool   `json:"initial"`
	OpenedTimeline []string `json:"opened_timeline"`
}

// TestSlidingSyncMatrixJSSDK: a real client, matrix-js-sdk's SlidingSync
// (the simplified MSC4186 endpoint, as Element X speaks it), run by Node
// against this server: it logs in with a password, opens Element X's
// room list, gets a message another user sends while it long-polls, and
// opens the room with a room subscription.
func TestSlidingSyncMatrixJSSDK(t *testing.T) {
	t.Parallel()
	dir := jssdkDir(t)
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	var rooms []id.RoomID
	for i := 0; i < 3; i++ {
		r, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: fmt.Sprintf("Raum %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		send(t, alice, r.RoomID, fmt.Sprintf("hallo %d", i))
		rooms = append(rooms, r.RoomID)
	}
	lobby := rooms[0]
	if _, err := bob.JoinRoomByID(ctx, lobby); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Name: "Space", CreationContent: map[string]any{"type": "m.space"}}); err != nil {
		t.Fatal(err)
	}

	const body = "Grüße von Bob"
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "testdata/jssdk/sliding.mjs")
	cmd.Env = append(os.Environ(), "JSSDK_DIR="+dir, "BASE_URL="+srv.URL, "USER="+alice.UserID.Localpart(),
		"PASSWORD=correct horse battery staple", "ROOM="+lobby.String(), "BODY="+body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	next := func(what string) *jsLine {
		t.Helper()
		if !lines.Scan() {
			_ = cmd.Wait()
			t.Fatalf("script ended before %s: %v\nstderr:\n%s", what, lines.Err(), stderr.String())
		}
		var l jsLine
		if err := json.Unmarshal(lines.Bytes(), &l); err != nil {
			t.Fatalf("script printed %q: %v", lines.Text(), err)
		}
		return &l
	}

	ready := next("the first answer").Ready
	if ready == nil || ready.Pos == "" {
		t.Fatalf("first line is not ready: %+v", ready)
	}
	// Three rooms; the space is filtered out.
	if ready.Count != 3 || len(ready.Rooms) != 3 {
		t.Fatalf("first answer: count %d, rooms %d", ready.Count, len(ready.Rooms))
	}
	r0 := ready.Rooms[rooms[2].String()]
	if r0 == nil || r0.Name != "Raum 2" || !slices.Equal(r0.Bodies, []string{"hallo 2"}) || !slices.Equal(r0.Initial, []bool{true}) ||
		!slices.Contains(r0.StateTypes, "m.room.create") || !slices.Contains(r0.StateTypes, "m.room.member") {
		t.Fatalf("room in the first answer: %+v", r0)
	}

	// The script is now long-polling: bob writes.
	sent := send(t, bob, lobby, body)
	res := next("the message").Result
	if res == nil {
		t.Fatal("no result")
	}
	m := res.Message
	if m.RoomID != lobby.String() || m.Sender != bob.UserID.String() || m.EventID != sent.String() || m.Body != body || m.Initial ||
		m.NumLive == nil || *m.NumLive != 1 {
		t.Fatalf("message as the client got it: %+v", m)
	}
	if res.Count != 3 {
		t.Fatalf("count after the message: %d", res.Count)
	}
	// Opened with a subscription: the room's timeline up to 20 events.
	lr := res.Rooms[lobby.String()]
	if lr == nil || !slices.Equal(lr.OpenedTimeline, []string{"hallo 0", body}) || !slices.Contains(lr.StateTypes, "m.room.join_rules") {
		t.Fatalf("opened room: %+v", lr)
	}
	// The incremental answer sent the room as a delta, then the
	// subscription sent it whole.
	if len(lr.Initial) < 3 || !lr.Initial[0] || lr.Initial[1] || !lr.Initial[len(lr.Initial)-1] {
		t.Fatalf("initial flags of the room's updates: %v", lr.Initial)
	}
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("script failed: %v\nstderr:\n%s", err, stderr.String())
		}
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, stdout)
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("script stderr:\n%s", s)
	}
}
