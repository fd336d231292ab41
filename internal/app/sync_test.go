package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// rawSync calls /sync with raw query parameters and returns the status and
// decoded body, for the cases mautrix's typed client cannot express.
func rawSync(t *testing.T, cli *mautrix.Client, query string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, cli.HomeserverURL.String()+"/_matrix/client/v3/sync?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return resp.StatusCode, out
}

func TestSyncRejectsBadParameters(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	tests := []struct {
		name, query string
	}{
		{"garbage since", "since=garbage"},
		{"negative timeout", "timeout=-5"},
		{"bad full_state", "full_state=maybe"},
		{"bad use_state_after", "use_state_after=1"},
		{"bad set_presence", "set_presence=busy"},
		{"unknown filter id", "filter=999999"},
		{"broken inline filter", "filter=%7Bnope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawSync(t, alice, tc.query)
			if status != http.StatusBadRequest || body["errcode"] != "M_INVALID_PARAM" {
				t.Fatalf("got %d %v, want 400 M_INVALID_PARAM", status, body)
			}
		})
	}
}

func messageBodies(evs []*event.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type == event.EventMessage {
			_ = ev.Content.ParseRaw(ev.Type)
			out = append(out, ev.Content.AsMessage().Body)
		}
	}
	return out
}

func TestSyncTimelineLimitAndGap(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := alice.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		if _, err := alice.SendText(ctx, room.RoomID, fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	filter := `{"room":{"timeline":{"limit":3,"types":["m.room.message"]}}}`
	resp, err := alice.SyncRequest(ctx, 0, first.NextBatch, filter, false, "")
	if err != nil {
		t.Fatal(err)
	}
	jr := resp.Rooms.Join[room.RoomID]
	if got := strings.Join(messageBodies(jr.Timeline.Events), ","); got != "m5,m6,m7" {
		t.Fatalf("timeline %s, want the newest three", got)
	}
	if !jr.Timeline.Limited || jr.Timeline.PrevBatch == "" {
		t.Fatalf("a gapped timeline must be limited with a prev_batch")
	}
	// The gap can be filled from prev_batch.
	msgs, err := alice.Messages(ctx, room.RoomID, jr.Timeline.PrevBatch, "", mautrix.DirectionBackward, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(messageBodies(msgs.Chunk), ","); got != "m4,m3,m2" {
		t.Fatalf("/messages from prev_batch gave %s", got)
	}
}

func TestSyncLeaveAndForget(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.LeaveRoom(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	withLeave := `{"room":{"include_leave":true}}`
	resp, err := alice.SyncRequest(ctx, 0, "", withLeave, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := resp.Rooms.Leave[room.RoomID]; !ok {
		t.Fatal("include_leave: left room missing")
	}
	if _, err := alice.ForgetRoom(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	resp, err = alice.SyncRequest(ctx, 0, "", withLeave, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := resp.Rooms.Leave[room.RoomID]; ok {
		t.Fatal("a forgotten room still appears")
	}
}

func TestHistoryVisibilityJoined(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendStateEvent(ctx, room.RoomID, event.StateHistoryVisibility, "", map[string]string{"history_visibility": "joined"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, room.RoomID, "before bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, room.RoomID, "after bob"); err != nil {
		t.Fatal(err)
	}
	for name, evs := range map[string]func() []*event.Event{
		"/messages": func() []*event.Event {
			m, err := bob.Messages(ctx, room.RoomID, "", "", mautrix.DirectionBackward, nil, 50)
			if err != nil {
				t.Fatal(err)
			}
			return m.Chunk
		},
		"/sync": func() []*event.Event {
			r, err := bob.SyncRequest(ctx, 0, "", "", false, "")
			if err != nil {
				t.Fatal(err)
			}
			return r.Rooms.Join[room.RoomID].Timeline.Events
		},
	} {
		got := messageBodies(evs())
		if len(got) != 1 || got[0] != "after bob" {
			t.Fatalf("%s shows %v to bob, want only the message after his join", name, got)
		}
	}
}

func TestLazyLoadedMembersAreSentOnce(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendText(ctx, room.RoomID, "hello"); err != nil {
		t.Fatal(err)
	}
	lazy := `{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":1}}}`
	members := func(r *mautrix.RespSync) []string {
		var out []string
		for _, ev := range r.Rooms.Join[room.RoomID].State.Events {
			if ev.Type == event.StateMember {
				out = append(out, ev.GetStateKey())
			}
		}
		return out
	}
	first, err := alice.SyncRequest(ctx, 0, "", lazy, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := members(first); len(got) != 2 {
		t.Fatalf("initial lazy sync members %v, want alice and bob", got)
	}
	if _, err := bob.SendText(ctx, room.RoomID, "again"); err != nil {
		t.Fatal(err)
	}
	next, err := alice.SyncRequest(ctx, 0, first.NextBatch, lazy, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := members(next); len(got) != 0 {
		t.Fatalf("incremental lazy sync resent members %v", got)
	}
}

// Paging back from an initial sync's prev_batch always finds events: the
// ones a limited timeline left out, or, when the timeline begins with the
// room's creation, the create event once more, and then the end.
func TestPrevBatchPagesBack(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, room.RoomID, "erste Nachricht"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		filter    string
		wantFirst event.Type // type of the first event paged back, if it matters
	}{
		{"whole room in the timeline", `{"room":{"timeline":{"limit":50}}}`, event.StateCreate},
		{"limited timeline", `{"room":{"timeline":{"limit":1}}}`, event.Type{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := alice.SyncRequest(ctx, 0, "", tc.filter, false, "")
			if err != nil {
				t.Fatal(err)
			}
			tl := resp.Rooms.Join[room.RoomID].Timeline
			if tl.PrevBatch == "" {
				t.Fatal("no prev_batch")
			}
			page, err := alice.Messages(ctx, room.RoomID, tl.PrevBatch, "", mautrix.DirectionBackward, nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Chunk) != 1 || page.End == "" || (tc.wantFirst.Type != "" && page.Chunk[0].Type != tc.wantFirst) || page.Chunk[0].Type == event.EventMessage {
				t.Fatalf("first page back: %d events, end %q", len(page.Chunk), page.End)
			}
			if tc.wantFirst != event.StateCreate {
				return
			}
			rest, err := alice.Messages(ctx, room.RoomID, page.End, "", mautrix.DirectionBackward, nil, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest.Chunk) != 0 || rest.End != "" {
				t.Fatalf("before the create event: %d events, end %q", len(rest.Chunk), rest.End)
			}
		})
	}
}

func TestSyncFederationEventFormat(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := alice.SendText(ctx, room.RoomID, "hello")
	if err != nil {
		t.Fatal(err)
	}
	status, body := rawSync(t, alice, "timeout=0&filter="+url.QueryEscape(`{"event_format":"federation","room":{"timeline":{"limit":1}}}`))
	if status != http.StatusOK {
		t.Fatalf("sync: %d %v", status, body)
	}
	joined := body["rooms"].(map[string]any)["join"].(map[string]any)[room.RoomID.String()].(map[string]any)
	evs := joined["timeline"].(map[string]any)["events"].([]any)
	if len(evs) != 1 {
		t.Fatalf("timeline = %v", evs)
	}
	ev := evs[0].(map[string]any)
	for _, k := range []string{"event_id", "content", "room_id", "sender", "origin_server_ts", "type", "prev_events", "auth_events", "depth", "hashes", "signatures"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("federation format event has no %q: %v", k, ev)
		}
	}
	if ev["event_id"] != sent.EventID.String() {
		t.Errorf("event_id = %v, want %s", ev["event_id"], sent.EventID)
	}
}
