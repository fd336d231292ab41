package app_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Client-Server conformance (issue 15): behaviours an outside test run
// found to differ from the spec.

// TestHierarchyFollowsOnlySpaces: m.space.child events of a room that is
// not a space are neither walked nor shown in its children_state.
func TestHierarchyFollowsOnlySpaces(t *testing.T) {
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	create := func(name string, space bool) id.RoomID {
		t.Helper()
		req := &mautrix.ReqCreateRoom{Preset: "public_chat", Name: name}
		if space {
			req.CreationContent = map[string]any{"type": "m.space"}
		}
		resp, err := alice.CreateRoom(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.RoomID
	}
	space, lobby, back := create("Behörde", true), create("Foyer", false), create("Hinterzimmer", false)
	for _, pc := range [][2]id.RoomID{{space, lobby}, {lobby, back}} {
		if _, err := alice.SendStateEvent(ctx, pc[0], event.StateSpaceChild, pc[1].String(),
			map[string]any{"via": []string{"localhost"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		root id.RoomID
		want string
	}{{space, "Behörde Foyer"}, {lobby, "Foyer"}} {
		status, body := rawCallV1(t, alice, "GET", "/rooms/"+url.PathEscape(tc.root.String())+"/hierarchy")
		if status != 200 {
			t.Fatalf("hierarchy of %s: %d %v", tc.root, status, body)
		}
		var names []string
		rooms, _ := body["rooms"].([]any)
		for _, r := range rooms {
			room := r.(map[string]any)
			names = append(names, room["name"].(string))
			if cs, _ := room["children_state"].([]any); room["name"] == "Foyer" && len(cs) != 0 {
				t.Errorf("the children_state of a room that is not a space: %v", cs)
			}
		}
		if strings.Join(names, " ") != tc.want {
			t.Errorf("hierarchy of %s: %v, want %s", tc.root, names, tc.want)
		}
	}
}
