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

// TestCreatorsInPowerLevelsAre400: in room version 12 creators have
// unlimited power and may not be listed in the power levels' users; a
// power levels event that lists one, or a second create event, is a
// malformed request (400) refused before event auth, not a 403.
func TestCreatorsInPowerLevelsAre400(t *testing.T) {
	srv := apptest.Start(t)
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	aliceID, bobID := alice.UserID.String(), bob.UserID.String()
	create := func(body map[string]any) (int, map[string]any) {
		t.Helper()
		return rawCall(t, alice, "POST", "/createRoom", body)
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"v12, the creator listed", map[string]any{"room_version": "12",
			"power_level_content_override": map[string]any{"users": map[string]any{aliceID: 100}}}, 400},
		{"v12, an additional creator listed", map[string]any{"room_version": "12",
			"creation_content":             map[string]any{"additional_creators": []string{bobID}},
			"power_level_content_override": map[string]any{"users": map[string]any{bobID: 50}}}, 400},
		{"v12, another user listed", map[string]any{"room_version": "12",
			"power_level_content_override": map[string]any{"users": map[string]any{bobID: 50}}}, 200},
		{"v11, the creator listed", map[string]any{"room_version": "11",
			"power_level_content_override": map[string]any{"users": map[string]any{aliceID: 100}}}, 200},
	} {
		status, body := create(tc.body)
		if status != tc.status || (status == 400 && body["errcode"] != "M_BAD_JSON") {
			t.Errorf("createRoom %s: %d %v, want %d", tc.name, status, body, tc.status)
		}
	}

	status, body := create(map[string]any{"room_version": "12", "preset": "public_chat",
		"creation_content": map[string]any{"additional_creators": []string{bobID}}})
	if status != 200 {
		t.Fatalf("createRoom: %d %v", status, body)
	}
	room := body["room_id"].(string)
	if status, body := rawCall(t, bob, "POST", "/join/"+url.PathEscape(room), map[string]any{}); status != 200 {
		t.Fatalf("join: %d %v", status, body)
	}
	path := "/rooms/" + url.PathEscape(room) + "/state/"
	for _, user := range []string{aliceID, bobID} {
		status, body := rawCall(t, alice, "PUT", path+"m.room.power_levels", map[string]any{"users": map[string]any{user: 100}})
		if status != 400 || body["errcode"] != "M_BAD_JSON" {
			t.Errorf("power levels listing the creator %s: %d %v, want 400 M_BAD_JSON", user, status, body)
		}
	}
	if status, body := rawCall(t, alice, "PUT", path+"m.room.power_levels",
		map[string]any{"users": map[string]any{"@carol:localhost": 50}}); status != 200 {
		t.Errorf("power levels listing another user: %d %v", status, body)
	}
	// A second create event, in any room version.
	resp, err := alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{RoomVersion: "10"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{room, resp.RoomID.String()} {
		status, body := rawCall(t, alice, "PUT", "/rooms/"+url.PathEscape(r)+"/state/m.room.create",
			map[string]any{"room_version": "12"})
		if status != 400 || body["errcode"] != "M_INVALID_PARAM" {
			t.Errorf("a second create event in %s: %d %v, want 400 M_INVALID_PARAM", r, status, body)
		}
	}
}
