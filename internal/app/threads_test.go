package app_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestThreads(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*mautrix.Client{bob, carol} {
		if _, err := c.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
	}
	send := func(c *mautrix.Client, body string, root id.EventID) id.EventID {
		t.Helper()
		content := map[string]any{"msgtype": "m.text", "body": body}
		if root != "" {
			content["m.relates_to"] = map[string]any{"rel_type": "m.thread", "event_id": root}
		}
		resp, err := c.SendMessageEvent(ctx, room.RoomID, event.EventMessage, content)
		if err != nil {
			t.Fatal(err)
		}
		return resp.EventID
	}
	first := send(alice, "Erster Vorgang", "")
	second := send(alice, "Zweiter Vorgang", "")
	send(bob, "Antwort 1", first)
	send(alice, "Antwort A", second)
	lastReply := send(bob, "Antwort 2", first)

	threads := func(cli *mautrix.Client, query string) ([]string, string) {
		t.Helper()
		status, body := rawCallV1(t, cli, "GET", "/rooms/"+url.PathEscape(room.RoomID.String())+"/threads?"+query)
		if status != 200 {
			t.Fatalf("threads?%s: %d %v", query, status, body)
		}
		var ids []string
		for _, e := range body["chunk"].([]any) {
			ids = append(ids, e.(map[string]any)["event_id"].(string))
		}
		next, _ := body["next_batch"].(string)
		return ids, next
	}
	if ids, _ := threads(carol, ""); len(ids) != 2 || ids[0] != first.String() || ids[1] != second.String() {
		t.Fatalf("threads by newest activity: %v", ids)
	}
	if ids, _ := threads(bob, "include=participated"); len(ids) != 1 || ids[0] != first.String() {
		t.Fatalf("bob's threads: %v", ids)
	}
	if ids, _ := threads(carol, "include=participated"); len(ids) != 0 {
		t.Fatalf("carol took part in no thread: %v", ids)
	}
	page1, next := threads(carol, "limit=1")
	page2, _ := threads(carol, "limit=1&from="+url.QueryEscape(next))
	if len(page1) != 1 || len(page2) != 1 || page1[0] != first.String() || page2[0] != second.String() {
		t.Fatalf("paginated: %v then %v", page1, page2)
	}
	if status, _ := rawCallV1(t, carol, "GET", "/rooms/"+url.PathEscape(room.RoomID.String())+"/threads?include=mine"); status != 400 {
		t.Fatalf("include=mine: %d", status)
	}

	// The root carries the thread's summary wherever it is served.
	var ev map[string]any
	if _, err := bob.MakeRequest(ctx, "GET", bob.BuildClientURL("v3", "rooms", room.RoomID, "event", first), nil, &ev); err != nil {
		t.Fatal(err)
	}
	check := func(where string, raw []byte, participated bool) {
		t.Helper()
		thread := gjson.GetBytes(raw, `unsigned.m\.relations.m\.thread`)
		if thread.Get("count").Int() != 2 || thread.Get("latest_event.event_id").String() != lastReply.String() ||
			thread.Get("current_user_participated").Bool() != participated {
			t.Fatalf("%s: thread aggregation %s", where, thread.Raw)
		}
	}
	raw, _ := jsonMarshal(ev)
	check("GET /event for bob", raw, true)
	var sync map[string]any
	if _, err := carol.MakeRequest(ctx, "GET", carol.BuildClientURL("v3", "sync"), nil, &sync); err != nil {
		t.Fatal(err)
	}
	raw, _ = jsonMarshal(sync)
	for _, e := range gjson.GetBytes(raw, "rooms.join."+gjson.Escape(room.RoomID.String())+".timeline.events").Array() {
		if e.Get("event_id").String() == first.String() {
			check("/sync for carol", []byte(e.Raw), false)
			return
		}
	}
	t.Fatal("the root is not in carol's sync timeline")
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
