package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// What servers read of each other's rooms beyond the timeline: space
// hierarchies, "jump to date", and each event's history visibility for
// the asking server.

// hierarchyNames calls /hierarchy as cli and returns the rooms' names in
// the order shown.
func hierarchyNames(t *testing.T, cli *mautrix.Client, space id.RoomID, query string) (int, []string) {
	t.Helper()
	status, body := rawCallV1(t, cli, "GET", "/rooms/"+url.PathEscape(space.String())+"/hierarchy?"+query)
	var names []string
	rooms, _ := body["rooms"].([]any)
	for _, r := range rooms {
		name, _ := r.(map[string]any)["name"].(string)
		names = append(names, name)
	}
	return status, names
}

// A space of hs1 seen from hs2: by a user who is in no room of it (the
// space fetched from the server named in via), and by one who joined the
// space but none of its rooms (the children fetched from their via
// lists). The private room stays hidden in both, and the federation
// answer has the spec's shape.
func TestFederationHierarchy(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice := hs1.Register(t, "alice")
	bob := hs2.Register(t, "bob")
	create := func(req *mautrix.ReqCreateRoom) id.RoomID {
		t.Helper()
		resp, err := alice.CreateRoom(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.RoomID
	}
	spaceType := map[string]any{"type": "m.space"}
	space := create(&mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Behörde", CreationContent: spaceType})
	lobby := create(&mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Foyer", Topic: "Willkommen"})
	secret := create(&mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Geheim"})
	sub := create(&mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Referat", CreationContent: spaceType})
	deep := create(&mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Tief"})
	child := func(parent, c id.RoomID, order string) {
		t.Helper()
		content := map[string]any{"via": []string{string(hs1.ServerName)}, "order": order}
		if _, err := alice.SendStateEvent(ctx, parent, event.StateSpaceChild, c.String(), content); err != nil {
			t.Fatal(err)
		}
	}
	child(space, lobby, "a")
	child(space, secret, "b")
	child(space, sub, "c")
	child(sub, deep, "a")
	want := "Behörde Foyer Referat Tief"

	t.Run("over federation", func(t *testing.T) {
		var res struct {
			Room                 map[string]any   `json:"room"`
			Children             []map[string]any `json:"children"`
			InaccessibleChildren []string         `json:"inaccessible_children"`
		}
		if err := fedCall(t, hs2, hs1, "GET", "/_matrix/federation/v1/hierarchy/"+url.PathEscape(space.String()), nil, &res); err != nil {
			t.Fatal(err)
		}
		if res.Room["room_id"] != space.String() || res.Room["room_type"] != "m.space" || res.Room["name"] != "Behörde" {
			t.Errorf("room: %v", res.Room)
		}
		if cs, _ := res.Room["children_state"].([]any); len(cs) != 3 {
			t.Errorf("children_state: %v", res.Room["children_state"])
		}
		var children []string
		for _, c := range res.Children {
			children = append(children, c["name"].(string))
			if c["room_version"] == nil || c["join_rule"] != "public" {
				t.Errorf("child chunk: %v", c)
			}
		}
		if slices.Sort(children); fmt.Sprint(children) != "[Foyer Referat]" {
			t.Errorf("children: %v", children)
		}
		if fmt.Sprint(res.InaccessibleChildren) != fmt.Sprint([]string{secret.String()}) {
			t.Errorf("inaccessible_children: %v", res.InaccessibleChildren)
		}
		err := fedCall(t, hs2, hs1, "GET", "/_matrix/federation/v1/hierarchy/"+url.PathEscape(secret.String()), nil, &res)
		if status, code := statusOf(err); status != 404 || code != "M_NOT_FOUND" {
			t.Errorf("the private room's hierarchy: %d %s, want 404 M_NOT_FOUND", status, code)
		}
		if err := fedCall(t, hs2, hs1, "GET", "/_matrix/federation/v1/hierarchy/"+url.PathEscape(space.String())+"?suggested_only=true", nil, &res); err != nil {
			t.Fatal(err)
		}
		if cs, _ := res.Room["children_state"].([]any); len(cs) != 0 || len(res.Children) != 0 {
			t.Errorf("suggested only: %v, %v", cs, res.Children)
		}
	})

	t.Run("a space we are not in, through via", func(t *testing.T) {
		if status, names := hierarchyNames(t, bob, space, "via="+url.QueryEscape(string(hs1.ServerName))); status != 200 || strings.Join(names, " ") != want {
			t.Errorf("%d %v, want %s", status, names, want)
		}
		if status, names := hierarchyNames(t, bob, space, "via="+url.QueryEscape(string(hs1.ServerName))+"&max_depth=1"); status != 200 || strings.Join(names, " ") != "Behörde Foyer Referat" {
			t.Errorf("max_depth=1: %d %v", status, names)
		}
		// Pages of one room each walk the same tree.
		var all []string
		from := ""
		for range 10 {
			status, body := rawCallV1(t, bob, "GET", "/rooms/"+url.PathEscape(space.String())+"/hierarchy?limit=1&via="+url.QueryEscape(string(hs1.ServerName))+"&from="+url.QueryEscape(from))
			if status != 200 {
				t.Fatalf("page: %d %v", status, body)
			}
			for _, r := range body["rooms"].([]any) {
				all = append(all, r.(map[string]any)["name"].(string))
			}
			if from, _ = body["next_batch"].(string); from == "" {
				break
			}
		}
		if strings.Join(all, " ") != want {
			t.Errorf("paged: %v", all)
		}
		// Without via, the server in the room id is asked (room versions
		// before 12 have one).
		if status, names := hierarchyNames(t, bob, space, ""); status != 200 || strings.Join(names, " ") != want {
			t.Errorf("without via: %d %v", status, names)
		}
		if status, _ := hierarchyNames(t, bob, id.RoomID("!unbekannt:"+string(hs1.ServerName)), ""); status != 403 {
			t.Errorf("a room no server knows: %d, want 403", status)
		}
	})

	t.Run("a space we joined, its rooms elsewhere", func(t *testing.T) {
		if _, err := bob.JoinRoom(ctx, space.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
			t.Fatal(err)
		}
		status, body := rawCallV1(t, bob, "GET", "/rooms/"+url.PathEscape(space.String())+"/hierarchy")
		var names []string
		for _, r := range body["rooms"].([]any) {
			chunk := r.(map[string]any)
			names = append(names, chunk["name"].(string))
			if _, ok := chunk["children_state"].([]any); !ok {
				t.Errorf("%s has no children_state", chunk["name"])
			}
		}
		if status != 200 || strings.Join(names, " ") != want {
			t.Errorf("%d %v, want %s", status, names, want)
		}
		if status, names := hierarchyNames(t, bob, space, "max_depth=0"); status != 200 || strings.Join(names, " ") != "Behörde" {
			t.Errorf("max_depth=0: %d %v", status, names)
		}
	})

	t.Run("other servers' answers are used again for a while", func(t *testing.T) {
		hs1.Stop(t)
		defer hs1.Start(t)
		if status, names := hierarchyNames(t, bob, space, ""); status != 200 || strings.Join(names, " ") != want {
			t.Errorf("with hs1 down: %d %v, want %s", status, names, want)
		}
	})
}

// "Jump to date" to a time before a server joined: its copy of the room
// starts at the join, so it asks the server that was there and answers
// with that server's event.
func TestFederationTimestampToEvent(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice := hs1.Register(t, "alice")
	bob := hs2.Register(t, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Chronik"})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	var ids []id.EventID
	var stamps []int64
	for _, body := range []string{"Montag", "Dienstag"} {
		time.Sleep(5 * time.Millisecond)
		resp, err := alice.SendText(ctx, room, body)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := alice.GetEvent(ctx, room, resp.EventID)
		if err != nil {
			t.Fatal(err)
		}
		ids, stamps = append(ids, resp.EventID), append(stamps, ev.Timestamp)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := bob.JoinRoom(ctx, room.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}
	at := func(ts int64, dir string) (int, string, float64) {
		status, body := rawCallV1(t, bob, "GET", fmt.Sprintf("/rooms/%s/timestamp_to_event?ts=%d&dir=%s", url.PathEscape(room.String()), ts, dir))
		got, _ := body["event_id"].(string)
		ts2, _ := body["origin_server_ts"].(float64)
		return status, got, ts2
	}
	if status, got, ts := at(stamps[1]+1, "b"); status != 200 || got != ids[1].String() || int64(ts) != stamps[1] {
		t.Errorf("before the join, backwards: %d %s %v, want %s", status, got, ts, ids[1])
	}
	if status, got, _ := at(stamps[0], "b"); status != 200 || got != ids[0].String() {
		t.Errorf("at the first message: %d %s, want %s", status, got, ids[0])
	}
	// Forwards from then, hs2's own copy has the answer: its join.
	if status, got, _ := at(stamps[1]+1, "f"); status != 200 || got == "" || slices.Contains(ids, id.EventID(got)) {
		t.Errorf("forwards: %d %s", status, got)
	}
	if status, _, _ := at(1, "b"); status != 404 {
		t.Errorf("before the room existed: %d, want 404", status)
	}

	// Over federation: the nearest event, or 404 M_NOT_FOUND.
	var res struct {
		EventID        string `json:"event_id"`
		OriginServerTS int64  `json:"origin_server_ts"`
	}
	path := "/_matrix/federation/v1/timestamp_to_event/" + url.PathEscape(room.String())
	if err := fedCall(t, hs2, hs1, "GET", fmt.Sprintf("%s?ts=%d&dir=f", path, stamps[0]), nil, &res); err != nil || res.EventID != ids[0].String() || res.OriginServerTS != stamps[0] {
		t.Errorf("federation, forwards: %v %+v", err, res)
	}
	err = fedCall(t, hs2, hs1, "GET", fmt.Sprintf("%s?ts=%d&dir=f", path, time.Now().Add(time.Hour).UnixMilli()), nil, &res)
	if status, code := statusOf(err); status != 404 || code != "M_NOT_FOUND" {
		t.Errorf("federation, nothing after: %d %s", status, code)
	}
	err = fedCall(t, hs2, hs1, "GET", path+"?ts=1&dir=x", nil, &res)
	if status, _ := statusOf(err); status != 400 {
		t.Errorf("federation, bad dir: %d", status)
	}
}

// historyRoom is a room of hs1 with history_visibility hv and three
// messages, which a user of hs2 joins afterwards.
func historyRoom(t *testing.T, hs1, hs2 *apptest.Server, hv string) (alice, bob *mautrix.Client, room id.RoomID, before []id.EventID) {
	t.Helper()
	ctx := context.Background()
	alice = hs1.Register(t, "alice")
	bob = hs2.Register(t, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Akte " + hv,
		InitialState: []*event.Event{{Type: event.StateHistoryVisibility, Content: event.Content{Raw: map[string]any{"history_visibility": hv}}}}})
	if err != nil {
		t.Fatal(err)
	}
	room = created.RoomID
	for i := range 3 {
		resp, err := alice.SendText(ctx, room, fmt.Sprintf("vorher %d", i))
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, resp.EventID)
	}
	if _, err := bob.JoinRoom(ctx, room.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, room, "nachher"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, room, "nachher")
	return alice, bob, room, before
}

// pageBack pages cli's /messages of the room back to its start and
// returns the message bodies seen.
func pageBack(t *testing.T, cli *mautrix.Client, room id.RoomID) []string {
	t.Helper()
	var bodies []string
	from := ""
	for range 30 {
		resp, err := cli.Messages(context.Background(), room, from, "", mautrix.DirectionBackward, nil, 10)
		if err != nil {
			t.Fatalf("messages: %v", err)
		}
		for _, ev := range resp.Chunk {
			if body, ok := ev.Content.Raw["body"].(string); ok {
				bodies = append(bodies, body)
			}
		}
		if resp.End == "" {
			break
		}
		from = resp.End
	}
	return bodies
}

// bodiesHeld returns the bodies of hs's copies of the events it holds.
func bodiesHeld(t *testing.T, hs *apptest.Server, room id.RoomID, ids []id.EventID) (held int, bodies []string) {
	t.Helper()
	var want []string
	for _, e := range ids {
		want = append(want, e.String())
	}
	pdus, err := hs.App.Rooms.EventsByID(context.Background(), room.String(), want)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pdus {
		if b := gjson.GetBytes(p.Content(), "body"); b.Exists() {
			bodies = append(bodies, b.String())
		}
	}
	return len(pdus), bodies
}

// A server whose user joined a "joined" room late reads nothing of what
// was said before: backfill, /event and /get_missing_events give it those
// events redacted, /state_ids at them is refused. In a "shared" room it
// reads all of it, and its user pages back into it.
func TestFederationVisibilityJoinedAndShared(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]

	t.Run("joined", func(t *testing.T) {
		alice, bob, room, before := historyRoom(t, hs1, hs2, "joined")
		if bodies := pageBack(t, bob, room); slices.ContainsFunc(bodies, func(b string) bool { return strings.HasPrefix(b, "vorher") }) {
			t.Errorf("bob reads history from before his join: %v", bodies)
		}
		held, bodies := bodiesHeld(t, hs2, room, before)
		if len(bodies) != 0 {
			t.Errorf("hs2 holds the bodies of %v", bodies)
		}
		t.Logf("hs2 holds %d of the %d earlier events, redacted", held, len(before))

		var txn gomatrixserverlib.Transaction
		path := fmt.Sprintf("/_matrix/federation/v1/backfill/%s?v=%s&limit=10", url.PathEscape(room.String()), url.QueryEscape(before[2].String()))
		if err := fedCall(t, hs2, hs1, "GET", path, nil, &txn); err != nil {
			t.Fatal(err)
		}
		if got := countBodies(txn.PDUs); len(txn.PDUs) < 3 || got != 0 {
			t.Errorf("backfill: %d events, %d with a body; want them all redacted", len(txn.PDUs), got)
		}
		if err := fedCall(t, hs2, hs1, "GET", "/_matrix/federation/v1/event/"+url.PathEscape(before[0].String()), nil, &txn); err != nil {
			t.Fatal(err)
		}
		if len(txn.PDUs) != 1 || countBodies(txn.PDUs) != 0 {
			t.Errorf("/event of an earlier message: %s", txn.PDUs)
		}
		var missing struct {
			Events []json.RawMessage `json:"events"`
		}
		body := map[string]any{"earliest_events": []string{before[0].String()}, "latest_events": []string{before[2].String()}, "limit": 10}
		if err := fedCall(t, hs2, hs1, "POST", "/_matrix/federation/v1/get_missing_events/"+url.PathEscape(room.String()), body, &missing); err != nil {
			t.Fatal(err)
		}
		if len(missing.Events) != 1 || countBodies(missing.Events) != 0 {
			t.Errorf("get_missing_events: %s", missing.Events)
		}
		err := fedCall(t, hs2, hs1, "GET", "/_matrix/federation/v1/state_ids/"+url.PathEscape(room.String())+"?event_id="+url.QueryEscape(before[1].String()), nil, &struct{}{})
		if status, code := statusOf(err); status != 403 || code != "M_FORBIDDEN" {
			t.Errorf("state_ids at an earlier event: %d %s, want 403", status, code)
		}
		// Jumping to a time before the join finds none of those messages,
		// neither over federation nor for bob.
		last, err := alice.GetEvent(context.Background(), room, before[2])
		if err != nil {
			t.Fatal(err)
		}
		var near struct {
			EventID string `json:"event_id"`
		}
		err = fedCall(t, hs2, hs1, "GET", fmt.Sprintf("/_matrix/federation/v1/timestamp_to_event/%s?ts=%d&dir=b", url.PathEscape(room.String()), last.Timestamp), nil, &near)
		if err != nil || slices.Contains(before, id.EventID(near.EventID)) {
			t.Errorf("federation timestamp_to_event before the join: %v %s", err, near.EventID)
		}
		_, body = rawCallV1(t, bob, "GET", fmt.Sprintf("/rooms/%s/timestamp_to_event?ts=%d&dir=b", url.PathEscape(room.String()), last.Timestamp))
		if got, _ := body["event_id"].(string); slices.Contains(before, id.EventID(got)) {
			t.Errorf("bob's timestamp_to_event before the join: %s", got)
		}
	})

	t.Run("shared", func(t *testing.T) {
		_, bob, room, before := historyRoom(t, hs1, hs2, "shared")
		bodies := pageBack(t, bob, room)
		for i := range before {
			if !slices.Contains(bodies, fmt.Sprintf("vorher %d", i)) {
				t.Errorf("bob does not read %q: %v", fmt.Sprintf("vorher %d", i), bodies)
			}
		}
		if held, got := bodiesHeld(t, hs2, room, before); held != 3 || len(got) != 3 {
			t.Errorf("hs2 holds %d events, %d with bodies; want 3", held, len(got))
		}
		var txn gomatrixserverlib.Transaction
		if err := fedCall(t, hs2, hs1, "GET", "/_matrix/federation/v1/event/"+url.PathEscape(before[0].String()), nil, &txn); err != nil {
			t.Fatal(err)
		}
		if countBodies(txn.PDUs) != 1 {
			t.Errorf("/event of an earlier message: %s", txn.PDUs)
		}
		var st struct {
			PDUIDs []string `json:"pdu_ids"`
		}
		if err := fedCall(t, hs2, hs1, "GET", "/_matrix/federation/v1/state_ids/"+url.PathEscape(room.String())+"?event_id="+url.QueryEscape(before[1].String()), nil, &st); err != nil || len(st.PDUIDs) == 0 {
			t.Errorf("state_ids at an earlier event: %v %v", err, st)
		}
	})
}

// A server that joined a "joined" room through another judges a third
// server's reads by the history visibility it joined with: hs3, whose
// user came after a message, gets it from hs2 redacted; what came after
// hs3's join it reads.
func TestFederationVisibilityThroughJoinedServer(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 3)
	hs1, hs2, hs3 := servers[0], servers[1], servers[2]
	ctx := context.Background()
	alice := hs1.Register(t, "alice")
	bob := hs2.Register(t, "bob")
	carol := hs3.Register(t, "carol")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Lage",
		InitialState: []*event.Event{{Type: event.StateHistoryVisibility, Content: event.Content{Raw: map[string]any{"history_visibility": "joined"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	// Nobody on hs2 pages back: hs2 knows the room's visibility only
	// from the state it joined with.
	if _, err := bob.JoinRoom(ctx, room.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}
	early, err := alice.SendText(ctx, room, "nur für hs1 und hs2")
	if err != nil {
		t.Fatal(err)
	}
	waitHeld(t, hs2, room, early.EventID)
	if _, err := carol.JoinRoom(ctx, room.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}
	late, err := alice.SendText(ctx, room, "für alle")
	if err != nil {
		t.Fatal(err)
	}
	waitHeld(t, hs2, room, late.EventID)
	for _, tc := range []struct {
		event  id.EventID
		bodies int
	}{{early.EventID, 0}, {late.EventID, 1}} {
		var txn gomatrixserverlib.Transaction
		if err := fedCall(t, hs3, hs2, "GET", "/_matrix/federation/v1/event/"+url.PathEscape(tc.event.String()), nil, &txn); err != nil {
			t.Fatal(err)
		}
		if got := countBodies(txn.PDUs); len(txn.PDUs) != 1 || got != tc.bodies {
			t.Errorf("hs3 reads %s from hs2 with %d bodies, want %d: %s", tc.event, got, tc.bodies, txn.PDUs)
		}
	}
}

// waitHeld waits until hs holds the event.
func waitHeld(t *testing.T, hs *apptest.Server, room id.RoomID, event id.EventID) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if held, _ := bodiesHeld(t, hs, room, []id.EventID{event}); held == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never got %s", hs.ServerName, event)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countBodies counts the events with a content.body.
func countBodies(pdus []json.RawMessage) int {
	n := 0
	for _, p := range pdus {
		if gjson.GetBytes(p, "content.body").Exists() {
			n++
		}
	}
	return n
}
