package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// /search counts what the user may see: the events of a room's history
// that the history visibility rules hide from them are neither results nor
// part of count, and the filter's contains_url and types count too.
func TestSearchCountsOnlyVisibleEvents(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat",
		InitialState: []*event.Event{{Type: event.StateHistoryVisibility, StateKey: new(string),
			Content: event.Content{Raw: map[string]any{"history_visibility": "joined"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) {
		t.Helper()
		if _, err := alice.SendText(ctx, room.RoomID, body); err != nil {
			t.Fatal(err)
		}
	}
	send("Apfel eins")
	send("Apfel zwei")
	send("Apfel drei")
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	send("Apfel vier")
	if _, err := alice.SendStateEvent(ctx, room.RoomID, event.StateHistoryVisibility, "", map[string]any{"history_visibility": "shared"}); err != nil {
		t.Fatal(err)
	}
	send("Apfel fünf")
	if _, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, map[string]any{
		"msgtype": "m.file", "body": "Apfel.pdf", "url": "mxc://localhost/apfel"}); err != nil {
		t.Fatal(err)
	}

	search := func(cli *mautrix.Client, filter map[string]any, nextBatch string) gjson.Result {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"search_categories": map[string]any{"room_events": map[string]any{
			"search_term": "apfel", "filter": filter}}})
		path := "/_matrix/client/v3/search"
		if nextBatch != "" {
			path += "?next_batch=" + nextBatch
		}
		a := specCall(t, srv.URL, cli.AccessToken, http.MethodPost, path, str(string(body)))
		if a.status != http.StatusOK {
			t.Fatalf("search: %d %s", a.status, a.body)
		}
		return gjson.Get(a.body, "search_categories.room_events")
	}
	bodies := func(res gjson.Result) []string {
		var out []string
		for _, r := range res.Get("results.#.result.content.body").Array() {
			out = append(out, r.String())
		}
		return out
	}
	tests := []struct {
		name   string
		cli    *mautrix.Client
		filter map[string]any
		count  int64
		bodies []string
	}{
		{"bob, who joined after three", bob, map[string]any{}, 3, []string{"Apfel.pdf", "Apfel fünf", "Apfel vier"}},
		{"alice, there all along", alice, map[string]any{}, 6, nil},
		{"bob, with a url", bob, map[string]any{"contains_url": true}, 1, []string{"Apfel.pdf"}},
		{"bob, without a url", bob, map[string]any{"contains_url": false}, 2, []string{"Apfel fünf", "Apfel vier"}},
		{"bob, types that are not searched", bob, map[string]any{"types": []string{"m.room.topic"}}, 0, nil},
		{"bob, not messages", bob, map[string]any{"not_types": []string{"m.room.*"}}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := search(tc.cli, tc.filter, "")
			if got := res.Get("count").Int(); got != tc.count {
				t.Errorf("count %d, want %d (results %v)", got, tc.count, bodies(res))
			}
			if got := bodies(res); tc.bodies != nil && !equalStrings(got, tc.bodies) {
				t.Errorf("results %v, want %v", got, tc.bodies)
			}
			if int64(len(res.Get("results").Array())) > tc.count {
				t.Errorf("%d results, more than count %d", len(res.Get("results").Array()), tc.count)
			}
		})
	}
	// Pages hold only visible events: one at a time, bob gets his three
	// and then no further page.
	var got []string
	next := ""
	for range 5 {
		res := search(bob, map[string]any{"limit": 1}, next)
		got = append(got, bodies(res)...)
		if next = res.Get("next_batch").String(); next == "" {
			break
		}
	}
	if !equalStrings(got, []string{"Apfel.pdf", "Apfel fünf", "Apfel vier"}) {
		t.Errorf("paged results %v", got)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
