package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/internal/testdb"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlutil.Open(testdb.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	key, err := serverkey.LoadOrCreate(filepath.Join(dir, "key"), "test.local")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	s, err := New(cfg, Deps{DB: db, Keys: []serverkey.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(); _ = db.Close() })
	serveOverBus(t, s)
	return s
}

// overBus holds, with ROHRPOST_TEST_OVER_BUS set, a client over NATS for
// each test server, so that these tests cover the API both ways.
var overBus sync.Map // *Server -> API

// apiOf is the API the tests call: the server itself, or a client of it.
func apiOf(_ testing.TB, s *Server) API {
	if c, ok := overBus.Load(s); ok {
		return c.(API)
	}
	return s
}

// serveOverBus serves s on an embedded NATS and routes the tests' calls
// through a client.
func serveOverBus(t *testing.T, s *Server) {
	t.Helper()
	if os.Getenv("ROHRPOST_TEST_OVER_BUS") == "" {
		return
	}
	conn, err := bus.Connect(context.Background(), bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Serve(conn.NC, s)
	if err != nil {
		t.Fatal(err)
	}
	overBus.Store(s, NewClient(conn.NC))
	t.Cleanup(func() { _ = srv.Stop(); conn.Close(); overBus.Delete(s) })
}

func user(t *testing.T, id string) spec.UserID {
	t.Helper()
	u, err := spec.NewUserID(id, true)
	if err != nil {
		t.Fatal(err)
	}
	return *u
}

func TestCreateRoomAllVersions(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	for _, v := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"} {
		t.Run("v"+v, func(t *testing.T) {
			res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice, RoomVersion: v, Name: "room " + v, Topic: "t"})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if got, _ := apiOf(t, s).RoomVersion(ctx, res.RoomID); got != v {
				t.Fatalf("version = %s", got)
			}
			if m, _ := apiOf(t, s).Membership(ctx, res.RoomID, alice); m != spec.Join {
				t.Fatalf("creator membership = %s", m)
			}
			name, err := apiOf(t, s).StateEvent(ctx, res.RoomID, spec.MRoomName, "")
			if err != nil || string(name.Content) != `{"name":"room `+v+`"}` {
				t.Fatalf("name = %v, %v", name, err)
			}
			if _, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: res.RoomID, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{"body":"hi","msgtype":"m.text"}`)}); err != nil {
				t.Fatalf("send: %v", err)
			}
		})
	}
}

func TestSendRules(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice, bob := user(t, "@alice:test.local"), user(t, "@bob:test.local")
	res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice})
	if err != nil {
		t.Fatal(err)
	}
	room := res.RoomID
	msg := json.RawMessage(`{"body":"x","msgtype":"m.text"}`)
	bobKey := bob.String()

	tests := []struct {
		name    string
		req     SendEventRequest
		wantErr error
	}{
		{"non-member cannot send", SendEventRequest{RoomID: room, Sender: bob, Type: "m.room.message", Content: msg}, ErrForbidden},
		{"non-member cannot join an invite-only room", SendEventRequest{RoomID: room, Sender: bob, Type: spec.MRoomMember, StateKey: &bobKey, Content: json.RawMessage(`{"membership":"join"}`)}, ErrForbidden},
		{"unknown room", SendEventRequest{RoomID: "!nope:test.local", Sender: alice, Type: "m.room.message", Content: msg}, ErrRoomNotFound},
		{"remote sender", SendEventRequest{RoomID: room, Sender: user(t, "@eve:elsewhere"), Type: "m.room.message", Content: msg}, ErrForbidden},
		{"too large", SendEventRequest{RoomID: room, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{"body":"` + string(make([]byte, 0)) + bigString(70000) + `"}`)}, ErrTooLarge},
		{"member can send", SendEventRequest{RoomID: room, Sender: alice, Type: "m.room.message", Content: msg}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apiOf(t, s).SendEvent(ctx, tc.req)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func bigString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

func TestTransactionIDIsIdempotent(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice})
	if err != nil {
		t.Fatal(err)
	}
	req := SendEventRequest{RoomID: res.RoomID, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{}`),
		TxnSession: 7, TxnDevice: "PHONE", TxnEndpoint: "send/room/m.room.message", TxnID: "t1"}
	first, err := apiOf(t, s).SendEvent(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := apiOf(t, s).SendEvent(ctx, req)
	if err != nil || again.EventID != first.EventID {
		t.Fatalf("retry gave %v, %v; want %s", again, err, first.EventID)
	}
	req.TxnSession, req.TxnDevice = 8, "LAPTOP"
	other, err := apiOf(t, s).SendEvent(ctx, req)
	if err != nil || other.EventID == first.EventID {
		t.Fatalf("another device's txn id gave the same event")
	}
}

func TestRedaction(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice, RoomVersion: "11"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: res.RoomID, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{"body":"secret","msgtype":"m.text"}`)})
	if err != nil {
		t.Fatal(err)
	}
	red, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: res.RoomID, Sender: alice, Type: spec.MRoomRedaction, Content: json.RawMessage(`{"reason":"oops"}`), Redacts: sent.EventID})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := apiOf(t, s).Event(ctx, sent.EventID)
	if err != nil {
		t.Fatal(err)
	}
	var client struct {
		Content  map[string]any `json:"content"`
		Unsigned struct {
			RedactedBecause struct {
				EventID string `json:"event_id"`
			} `json:"redacted_because"`
			RedactedBy string `json:"redacted_by"`
		} `json:"unsigned"`
	}
	if err := json.Unmarshal(ev.Client, &client); err != nil {
		t.Fatal(err)
	}
	if len(client.Content) != 0 || client.Unsigned.RedactedBecause.EventID != red.EventID || client.Unsigned.RedactedBy != red.EventID {
		t.Fatalf("redacted event = %s", ev.Client)
	}
}

func TestStateSurvivesReload(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice, Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < fullSnapshotEvery+5; i++ {
		key := "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if _, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: res.RoomID, Sender: alice, Type: "org.example.state", StateKey: &key, Content: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	cached, err := s.room(ctx, res.RoomID)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := s.loadRoom(ctx, res.RoomID)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.state) != len(cached.state) || loaded.snapshot != cached.snapshot {
		t.Fatalf("reloaded state has %d entries at snapshot %d, cache %d at %d", len(loaded.state), loaded.snapshot, len(cached.state), cached.snapshot)
	}
	fromSnapshots, err := s.store.StateAt(ctx, cached.snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromSnapshots) != len(cached.state) {
		t.Fatalf("snapshot chain gives %d entries, want %d", len(fromSnapshots), len(cached.state))
	}
	for k, ev := range cached.state {
		if fromSnapshots[[2]string{k.EventType, k.StateKey}] != ev.nid {
			t.Fatalf("snapshot disagrees on %v", k)
		}
	}
}

func TestUpgradeRoom(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	for _, target := range []string{"11", "12"} {
		t.Run("to v"+target, func(t *testing.T) {
			res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice, RoomVersion: "10", Name: "alt", AliasLocalpart: "upgrade" + target})
			if err != nil {
				t.Fatal(err)
			}
			newID, err := apiOf(t, s).UpgradeRoom(ctx, res.RoomID, alice, target, nil)
			if err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			if v, _ := apiOf(t, s).RoomVersion(ctx, newID); v != target {
				t.Fatalf("new room version %s", v)
			}
			name, err := apiOf(t, s).StateEvent(ctx, newID, spec.MRoomName, "")
			if err != nil || string(name.Content) != `{"name":"alt"}` {
				t.Fatalf("name not copied: %v %v", name, err)
			}
			tomb, err := apiOf(t, s).StateEvent(ctx, res.RoomID, "m.room.tombstone", "")
			if err != nil || !json.Valid(tomb.Content) {
				t.Fatalf("no tombstone: %v", err)
			}
			if id, err := apiOf(t, s).ResolveAlias(ctx, "#upgrade"+target+":test.local"); err != nil || id != newID {
				t.Fatalf("alias points at %s, %v", id, err)
			}
		})
	}
}

// A moderator allowed to send tombstones upgrades the room: the new room
// ends with the old room's power levels (the moderator raised only while
// sending the initial state), and the old room's power levels, which the
// moderator may not change, stay as they were.
func TestUpgradeRoomByModerator(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice, bob := user(t, "@alice:test.local"), user(t, "@bob:test.local")
	res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice, RoomVersion: "10", Preset: "public_chat", Name: "mods"})
	if err != nil {
		t.Fatal(err)
	}
	bobKey, empty := bob.String(), ""
	if _, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: res.RoomID, Sender: bob, Type: spec.MRoomMember, StateKey: &bobKey, Content: json.RawMessage(`{"membership":"join"}`)}); err != nil {
		t.Fatal(err)
	}
	pl, err := apiOf(t, s).StateEvent(ctx, res.RoomID, spec.MRoomPowerLevels, "")
	if err != nil {
		t.Fatal(err)
	}
	var levels map[string]any
	if err := json.Unmarshal(pl.Content, &levels); err != nil {
		t.Fatal(err)
	}
	levels["users"].(map[string]any)[bob.String()] = 50
	levels["events"].(map[string]any)["m.room.tombstone"] = 50
	content, _ := json.Marshal(levels)
	if _, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: res.RoomID, Sender: alice, Type: spec.MRoomPowerLevels, StateKey: &empty, Content: content}); err != nil {
		t.Fatal(err)
	}
	oldPL, err := apiOf(t, s).StateEvent(ctx, res.RoomID, spec.MRoomPowerLevels, "")
	if err != nil {
		t.Fatal(err)
	}

	newID, err := apiOf(t, s).UpgradeRoom(ctx, res.RoomID, bob, "11", nil)
	if err != nil {
		t.Fatalf("upgrade by a moderator: %v", err)
	}
	newPL, err := apiOf(t, s).StateEvent(ctx, newID, spec.MRoomPowerLevels, "")
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, newPL.Content, oldPL.Content) {
		t.Errorf("new room power levels %s, want the old room's %s", newPL.Content, oldPL.Content)
	}
	if name, err := apiOf(t, s).StateEvent(ctx, newID, spec.MRoomName, ""); err != nil || string(name.Content) != `{"name":"mods"}` {
		t.Errorf("name not copied: %v %v", name, err)
	}
	afterPL, err := apiOf(t, s).StateEvent(ctx, res.RoomID, spec.MRoomPowerLevels, "")
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, afterPL.Content, oldPL.Content) {
		t.Errorf("old room power levels changed to %s", afterPL.Content)
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// A second roomserver on the same database refuses to start while the
// first runs, and starts once it stopped.
func TestOnlyOneRoomserver(t *testing.T) {
	opts := testdb.Options(t)
	db, err := sqlutil.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, err := serverkey.LoadOrCreate(filepath.Join(t.TempDir(), "key"), "test.local")
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{DB: db, Keys: []serverkey.Key{key}}
	first, err := New(config.Default(), deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Another process: its own connections to the same database.
	other, err := sqlutil.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := New(config.Default(), Deps{DB: other, Keys: deps.Keys}); err == nil {
		t.Fatal("a second roomserver started beside the first")
	}
	first.Stop()
	second, err := New(config.Default(), Deps{DB: other, Keys: deps.Keys})
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	if err := second.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	second.Stop()
}

// Room versions 6 and later require canonical JSON: no floats, integers
// within ±(2^53-1). Earlier versions take any JSON number.
func TestCanonicalJSONContent(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	rooms := map[string]string{}
	for _, v := range []string{"5", "6", "11"} {
		res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice, RoomVersion: v})
		if err != nil {
			t.Fatal(err)
		}
		rooms[v] = res.RoomID
	}
	tests := []struct {
		version, content string
		wantErr          bool
	}{
		{"6", `{"n":9007199254740991}`, false},
		{"6", `{"n":-9007199254740991}`, false},
		{"6", `{"n":9007199254740992}`, true},
		{"11", `{"deep":{"n":[-9007199254740992]}}`, true},
		{"6", `{"n":1.1}`, true},
		{"6", `{"n":1e3}`, true},
		{"6", `{"s":"1.1"}`, false},
		{"5", `{"n":1.1}`, false},
		{"5", `{"n":9007199254740992}`, false},
	}
	for _, tc := range tests {
		_, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: rooms[tc.version], Sender: alice, Type: "m.room.message", Content: json.RawMessage(tc.content)})
		if gotErr := errors.Is(err, ErrBadEvent); gotErr != tc.wantErr || (err != nil && !gotErr) {
			t.Errorf("room v%s, content %s: err = %v, want bad event: %v", tc.version, tc.content, err, tc.wantErr)
		}
	}
}
