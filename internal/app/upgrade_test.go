package app_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// POST /rooms/{roomId}/upgrade over HTTP: the replacement room, with the
// additional creators the caller names when upgrading to version 12
// (spec v1.16), and the spec's errors for bad requests.
func TestUpgradeRoomOverHTTP(t *testing.T) {
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", RoomVersion: "11", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	path := "/rooms/" + room.RoomID.String() + "/upgrade"
	tests := []struct {
		name    string
		body    map[string]any
		status  int
		errcode string
	}{
		{"no version", map[string]any{}, 400, "M_BAD_JSON"},
		{"unknown version", map[string]any{"new_version": "99"}, 400, "M_UNSUPPORTED_ROOM_VERSION"},
		{"bad creator", map[string]any{"new_version": "12", "additional_creators": []string{"bob"}}, 400, "M_INVALID_PARAM"},
		{"creators not a list", map[string]any{"new_version": "12", "additional_creators": "@bob:localhost"}, 400, "M_BAD_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := rawCall(t, alice, "POST", path, tc.body); status != tc.status || body["errcode"] != tc.errcode {
				t.Errorf("got %d %v, want %d %s", status, body, tc.status, tc.errcode)
			}
		})
	}
	status, body := rawCall(t, alice, "POST", path, map[string]any{"new_version": "12", "additional_creators": []string{bob.UserID.String()}})
	newRoom, _ := body["replacement_room"].(string)
	if status != 200 || newRoom == "" {
		t.Fatalf("upgrade: %d %v", status, body)
	}
	var create map[string]any
	if err := alice.StateEvent(ctx, id.RoomID(newRoom), event.StateCreate, "", &create); err != nil {
		t.Fatal(err)
	}
	if creators, _ := create["additional_creators"].([]any); len(creators) != 1 || creators[0] != bob.UserID.String() {
		t.Errorf("new room's create content %v, want bob as additional creator", create)
	}
}
