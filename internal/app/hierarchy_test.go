package app_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestSpaceHierarchy(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	create := func(req *mautrix.ReqCreateRoom) id.RoomID {
		t.Helper()
		resp, err := alice.CreateRoom(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.RoomID
	}
	space := create(&mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Behörde", CreationContent: map[string]any{"type": "m.space"}})
	lobby := create(&mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Foyer"})
	secret := create(&mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Geheim"})
	team := create(&mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Team", RoomVersion: "10",
		InitialState: admittedFrom("restricted", space.String())})
	sub := create(&mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Referat", CreationContent: map[string]any{"type": "m.space"}})
	deep := create(&mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Tief"})
	child := func(parent, c id.RoomID, content map[string]any) {
		t.Helper()
		content["via"] = []string{"localhost"}
		if _, err := alice.SendStateEvent(ctx, parent, event.StateSpaceChild, c.String(), content); err != nil {
			t.Fatal(err)
		}
	}
	child(space, lobby, map[string]any{"order": "b", "suggested": true})
	child(space, secret, map[string]any{"order": "a"})
	child(space, team, map[string]any{"order": "c"})
	child(space, sub, map[string]any{})
	child(sub, deep, map[string]any{"suggested": true})
	if _, err := bob.JoinRoomByID(ctx, space); err != nil {
		t.Fatal(err)
	}

	hierarchy := func(query string) (int, []string, string) {
		t.Helper()
		status, body := rawCallV1(t, bob, "GET", "/rooms/"+url.PathEscape(space.String())+"/hierarchy?"+query)
		var names []string
		rooms, _ := body["rooms"].([]any)
		for _, r := range rooms {
			names = append(names, r.(map[string]any)["name"].(string))
		}
		next, _ := body["next_batch"].(string)
		return status, names, next
	}
	tests := []struct {
		query, want string
	}{
		// The private room is hidden from bob; the restricted one is open
		// to members of the space; ordered children come first.
		{"", "Behörde Foyer Team Referat Tief"},
		{"suggested_only=true", "Behörde Foyer"},
		{"max_depth=0", "Behörde"},
		{"max_depth=1", "Behörde Foyer Team Referat"},
	}
	for _, tc := range tests {
		if status, names, _ := hierarchy(tc.query); status != 200 || strings.Join(names, " ") != tc.want {
			t.Errorf("?%s: %d %v, want %s", tc.query, status, names, tc.want)
		}
	}
	var all []string
	from := ""
	for pages := 0; pages < 10; pages++ {
		status, names, next := hierarchy("limit=2&from=" + url.QueryEscape(from))
		if status != 200 {
			t.Fatalf("page %d: %d", pages, status)
		}
		all = append(all, names...)
		if next == "" {
			break
		}
		from = next
	}
	if strings.Join(all, " ") != "Behörde Foyer Team Referat Tief" {
		t.Fatalf("paginated: %v", all)
	}
	_, _, next := hierarchy("limit=1")
	if status, _, _ := hierarchy("limit=1&suggested_only=true&from=" + url.QueryEscape(next)); status != 400 {
		t.Errorf("changing suggested_only between pages: %d, want 400", status)
	}
	if status, _ := rawCallV1(t, bob, "GET", "/rooms/"+url.PathEscape(secret.String())+"/hierarchy"); status != 403 {
		t.Errorf("a private room's hierarchy: %d, want 403", status)
	}
	if status, _ := rawCallV1(t, bob, "GET", "/rooms/"+url.PathEscape("!nope:localhost")+"/hierarchy"); status != 403 {
		t.Errorf("an unknown room: %d, want 403", status)
	}
}

// rawCallV1 is rawCall on /_matrix/client/v1.
func rawCallV1(t *testing.T, cli *mautrix.Client, method, path string) (int, map[string]any) {
	t.Helper()
	var out map[string]any
	_, err := cli.MakeFullRequest(context.Background(), mautrix.FullRequest{Method: method,
		URL: cli.HomeserverURL.String() + "/_matrix/client/v1" + path, ResponseJSON: &out})
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Response != nil {
		return httpErr.Response.StatusCode, out
	}
	if err != nil {
		t.Fatal(err)
	}
	return 200, out
}
