package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

func TestSearch(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Haushaltsausschuss", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	other, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	send := func(roomID id.RoomID, body string) id.EventID {
		t.Helper()
		resp, err := alice.SendText(ctx, roomID, body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.EventID
	}
	plan := send(room.RoomID, "Der HAUSHALTSPLAN 2027 ist beschlossen")
	send(room.RoomID, "Bauantrag eingegangen")
	gone := send(room.RoomID, "Haushalt: vertrauliche Zahlen")
	if _, err := alice.RedactEvent(ctx, room.RoomID, gone); err != nil {
		t.Fatal(err)
	}
	late := send(room.RoomID, "Nachtrag zum Haushaltsplan")
	send(other.RoomID, "Haushaltsplan im anderen Raum")

	search := func(cli *mautrix.Client, roomEvents map[string]any, nextBatch string) gjson.Result {
		t.Helper()
		url := cli.BuildClientURL("v3", "search")
		if nextBatch != "" {
			url = cli.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "search"}, map[string]string{"next_batch": nextBatch})
		}
		var out map[string]any
		if _, err := cli.MakeRequest(ctx, "POST", url, map[string]any{"search_categories": map[string]any{"room_events": roomEvents}}, &out); err != nil {
			t.Fatal(err)
		}
		raw, _ := jsonMarshal(out)
		return gjson.GetBytes(raw, "search_categories.room_events")
	}
	ids := func(res gjson.Result) []string {
		var out []string
		for _, r := range res.Get("results").Array() {
			out = append(out, r.Get("result.event_id").String())
		}
		return out
	}
	// Bob sees only the room he is in, newest first, without the redacted
	// message; the room's name matches too.
	res := search(bob, map[string]any{"search_term": "haushalt"}, "")
	got := ids(res)
	if len(got) != 3 || got[0] != late.String() || got[1] != plan.String() || res.Get("count").Int() != 3 {
		t.Fatalf("search for haushalt: %v (count %d)", got, res.Get("count").Int())
	}
	if res.Get("results.2.result.type").String() != "m.room.name" {
		t.Fatalf("the room name did not match: %s", res.Get("results.2.result").Raw)
	}
	if got := ids(search(bob, map[string]any{"search_term": "haushalt", "keys": []string{"content.body"}}, "")); len(got) != 2 {
		t.Fatalf("body only: %v", got)
	}
	if got := ids(search(bob, map[string]any{"search_term": "plan 2027"}, "")); len(got) != 1 || got[0] != plan.String() {
		t.Fatalf("every word must match: %v", got)
	}
	// Pages of one, with context and the sender's profile.
	first := search(bob, map[string]any{"search_term": "haushaltsplan", "filter": map[string]any{"limit": 1},
		"event_context": map[string]any{"before_limit": 1, "after_limit": 1, "include_profile": true}}, "")
	if ids(first)[0] != late.String() || first.Get("next_batch").String() == "" {
		t.Fatalf("first page: %s", first.Raw)
	}
	if first.Get("results.0.context.events_before.#").Int() != 1 || !first.Get("results.0.context.profile_info").Get(gjson.Escape(alice.UserID.String())).Exists() {
		t.Fatalf("context: %s", first.Get("results.0.context").Raw)
	}
	second := search(bob, map[string]any{"search_term": "haushaltsplan", "filter": map[string]any{"limit": 1}}, first.Get("next_batch").String())
	if got := ids(second); len(got) != 1 || got[0] != plan.String() {
		t.Fatalf("second page: %v", got)
	}
	// Alice searches both rooms; grouped by room.
	grouped := search(alice, map[string]any{"search_term": "haushaltsplan", "groupings": map[string]any{"group_by": []any{map[string]any{"key": "room_id"}}},
		"include_state": true}, "")
	if grouped.Get("groups.room_id.@keys.#").Int() != 2 || !grouped.Get("state").Get(gjson.Escape(room.RoomID.String())).Exists() {
		t.Fatalf("grouped: %s", grouped.Raw)
	}
}
