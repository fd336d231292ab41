package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// rawCall calls a /_matrix/client/v3 endpoint as cli and decodes the reply.
func rawCall(t testing.TB, cli *mautrix.Client, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return rawCallPath(t, cli, method, "/_matrix/client/v3"+path, body)
}

// rawCallPath calls any path of cli's server as cli; body nil sends none.
func rawCallPath(t testing.TB, cli *mautrix.Client, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, cli.HomeserverURL.String()+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// peekedRoom is rooms.peek[room] of a raw /sync body, nil when absent.
func peekedRoom(body map[string]any, room id.RoomID) map[string]any {
	rooms, _ := body["rooms"].(map[string]any)
	peek, _ := rooms["peek"].(map[string]any)
	r, _ := peek[room.String()].(map[string]any)
	return r
}

// timelineOf lists the type (and body, for messages) of each timeline event.
func timelineOf(room map[string]any) []string {
	tl, _ := room["timeline"].(map[string]any)
	evs, _ := tl["events"].([]any)
	var out []string
	for _, e := range evs {
		ev := e.(map[string]any)
		s := ev["type"].(string)
		if b, ok := ev["content"].(map[string]any)["body"].(string); ok {
			s += " " + b
		}
		out = append(out, s)
	}
	return out
}

func TestPeekingWorldReadableRooms(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	server := alice.UserID.Homeserver()
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "peekable"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendStateEvent(ctx, room.RoomID, event.StateHistoryVisibility, "", map[string]any{"history_visibility": "world_readable"}); err != nil {
		t.Fatal(err)
	}
	shared, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	// bob's second device must not see bob's peeks.
	bob2 := srv.Register(t, "bob2")
	if login, err := bob2.Login(ctx, &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: bob.UserID.Localpart()},
		Password:   "correct horse battery staple"}); err != nil {
		t.Fatal(err)
	} else {
		bob2.UserID, bob2.AccessToken = login.UserID, login.AccessToken
	}

	tests := []struct {
		name    string
		target  string
		status  int
		errcode string
	}{
		{"shared history", shared.RoomID.String(), 403, "M_FORBIDDEN"},
		{"unknown room", "!nope:" + server, 404, "M_NOT_FOUND"},
		{"unknown alias", "#nope:" + server, 404, "M_NOT_FOUND"},
		{"not a room", "nope", 400, "M_INVALID_PARAM"},
		{"by alias", "#peekable:" + server, 200, ""},
		{"by room id", room.RoomID.String(), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawCall(t, bob, "POST", "/peek/"+url.PathEscape(tc.target), map[string]any{})
			if status != tc.status || (tc.errcode != "" && body["errcode"] != tc.errcode) {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.status, tc.errcode)
			}
			if status == 200 && body["room_id"] != room.RoomID.String() {
				t.Errorf("room_id = %v, want %s", body["room_id"], room.RoomID)
			}
		})
	}

	if _, err := alice.SendText(ctx, room.RoomID, "first"); err != nil {
		t.Fatal(err)
	}
	_, first := rawSync(t, bob, "timeout=0")
	pr := peekedRoom(first, room.RoomID)
	tl := timelineOf(pr)
	if len(tl) == 0 || tl[0] != "m.room.create" || tl[len(tl)-1] != "m.room.message first" {
		t.Fatalf("peeked timeline = %v, want m.room.create first and the message last", tl)
	}
	if joined := first["rooms"].(map[string]any)["join"].(map[string]any); len(joined) != 0 {
		t.Errorf("a peek shows up as joined: %v", joined)
	}
	_, other := rawSync(t, bob2, "timeout=0")
	if p, _ := other["rooms"].(map[string]any)["peek"].(map[string]any); len(p) != 0 {
		t.Errorf("the other device sees the peek: %v", p)
	}

	next := first["next_batch"].(string)
	_, again := rawSync(t, bob, "timeout=0&since="+next)
	if pr := peekedRoom(again, room.RoomID); pr != nil {
		t.Errorf("unchanged peeked room in incremental sync: %v", pr)
	}

	// A waiting /sync wakes for a message in the peeked room.
	done := make(chan map[string]any)
	go func() {
		_, body := rawSync(t, bob, "timeout=20000&since="+next)
		done <- body
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if _, err := alice.SendText(ctx, room.RoomID, "second"); err != nil {
		t.Fatal(err)
	}
	woken := <-done
	if time.Since(start) > 10*time.Second {
		t.Errorf("the waiting sync took %v to wake", time.Since(start))
	}
	if tl := timelineOf(peekedRoom(woken, room.RoomID)); len(tl) != 1 || tl[0] != "m.room.message second" {
		t.Errorf("incremental peeked timeline = %v, want the new message only", tl)
	}
	next = woken["next_batch"].(string)

	// After unpeeking, the room is gone; peeking again brings it back whole.
	if status, body := rawCall(t, bob, "POST", "/rooms/"+url.PathEscape(room.RoomID.String())+"/unpeek", map[string]any{}); status != 200 {
		t.Fatalf("unpeek: %d %v", status, body)
	}
	if _, err := alice.SendText(ctx, room.RoomID, "third"); err != nil {
		t.Fatal(err)
	}
	_, after := rawSync(t, bob, "timeout=0&since="+next)
	if pr := peekedRoom(after, room.RoomID); pr != nil {
		t.Errorf("room still peeked after unpeek: %v", pr)
	}
	next = after["next_batch"].(string)
	rawCall(t, bob, "POST", "/peek/"+url.PathEscape(room.RoomID.String()), map[string]any{})
	_, back := rawSync(t, bob, "timeout=0&since="+next)
	if tl := timelineOf(peekedRoom(back, room.RoomID)); len(tl) < 3 || tl[len(tl)-1] != "m.room.message third" {
		t.Errorf("timeline after peeking again = %v, want history up to the newest message", tl)
	}

	// Joining moves the room from peek to join.
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	_, joined := rawSync(t, bob, "timeout=0")
	if pr := peekedRoom(joined, room.RoomID); pr != nil {
		t.Errorf("joined room still under peek")
	}
	if _, ok := joined["rooms"].(map[string]any)["join"].(map[string]any)[room.RoomID.String()]; !ok {
		t.Errorf("joined room missing from join")
	}
}
