package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Room version 12 makes creators all-powerful (spec v1.16, MSC4289): the
// invitees of a trusted private chat become additional creators instead
// of getting level 100, no creator is listed in the power levels, and
// only creators may upgrade by default.
func TestCreateRoomAdditionalCreators(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice, bob, carol := user(t, "@alice:test.local"), user(t, "@bob:test.local"), user(t, "@carol:test.local")
	tests := []struct {
		name         string
		req          CreateRoomRequest
		wantCreators []string
		wantUsers    map[string]int
		wantTomb     int
	}{
		{"v12 trusted chat", CreateRoomRequest{Creator: alice, RoomVersion: "12", Preset: "trusted_private_chat", Invite: []spec.UserID{bob, carol},
			CreationContent: json.RawMessage(`{"additional_creators":["@carol:test.local","@dave:test.local","@alice:test.local"]}`)},
			[]string{"@carol:test.local", "@dave:test.local", "@bob:test.local"}, map[string]int{}, 150},
		{"v12 private chat", CreateRoomRequest{Creator: alice, RoomVersion: "12", Preset: "private_chat", Invite: []spec.UserID{bob}},
			nil, map[string]int{}, 150},
		{"v12 creator listed in the override", CreateRoomRequest{Creator: alice, RoomVersion: "12",
			CreationContent:           json.RawMessage(`{"additional_creators":["@bob:test.local"]}`),
			PowerLevelContentOverride: json.RawMessage(`{"users":{"@alice:test.local":100,"@bob:test.local":100,"@carol:test.local":50}}`)},
			[]string{"@bob:test.local"}, map[string]int{"@carol:test.local": 50}, 150},
		{"v11 trusted chat", CreateRoomRequest{Creator: alice, RoomVersion: "11", Preset: "trusted_private_chat", Invite: []spec.UserID{bob}},
			nil, map[string]int{"@alice:test.local": 100, "@bob:test.local": 100}, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := apiOf(t, s).CreateRoom(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			create, err := apiOf(t, s).StateEvent(ctx, res.RoomID, spec.MRoomCreate, "")
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				AdditionalCreators []string `json:"additional_creators"`
			}
			_ = json.Unmarshal(create.Content, &c)
			if !reflect.DeepEqual(c.AdditionalCreators, tc.wantCreators) {
				t.Errorf("additional_creators = %v, want %v", c.AdditionalCreators, tc.wantCreators)
			}
			pl, err := apiOf(t, s).StateEvent(ctx, res.RoomID, spec.MRoomPowerLevels, "")
			if err != nil {
				t.Fatal(err)
			}
			var levels struct {
				Users  map[string]int `json:"users"`
				Events map[string]int `json:"events"`
			}
			_ = json.Unmarshal(pl.Content, &levels)
			if !reflect.DeepEqual(levels.Users, tc.wantUsers) || levels.Events["m.room.tombstone"] != tc.wantTomb {
				t.Errorf("power levels %s, want users %v and tombstone %d", pl.Content, tc.wantUsers, tc.wantTomb)
			}
		})
	}
	_, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice, RoomVersion: "12", CreationContent: json.RawMessage(`{"additional_creators":"@bob:test.local"}`)})
	if !errors.Is(err, ErrBadEvent) {
		t.Errorf("additional_creators not a list: %v", err)
	}
	_, err = apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice, RoomVersion: "12", CreationContent: json.RawMessage(`{"additional_creators":["bob"]}`)})
	if !errors.Is(err, ErrBadEvent) {
		t.Errorf("additional creator not a user id: %v", err)
	}
}

// An upgrade to version 12 takes the additional creators the caller
// names, and drops them from the power levels it copies.
func TestUpgradeRoomWithAdditionalCreators(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice, bob := user(t, "@alice:test.local"), user(t, "@bob:test.local")
	res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice, RoomVersion: "11", Preset: "trusted_private_chat", Invite: []spec.UserID{bob}})
	if err != nil {
		t.Fatal(err)
	}
	newID, err := apiOf(t, s).UpgradeRoom(ctx, res.RoomID, alice, "12", []spec.UserID{bob, bob, alice})
	if err != nil {
		t.Fatal(err)
	}
	create, err := apiOf(t, s).StateEvent(ctx, newID, spec.MRoomCreate, "")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AdditionalCreators []string `json:"additional_creators"`
	}
	_ = json.Unmarshal(create.Content, &c)
	if !reflect.DeepEqual(c.AdditionalCreators, []string{"@bob:test.local"}) {
		t.Errorf("additional_creators = %v", c.AdditionalCreators)
	}
	pl, err := apiOf(t, s).StateEvent(ctx, newID, spec.MRoomPowerLevels, "")
	if err != nil {
		t.Fatal(err)
	}
	var levels struct {
		Users map[string]int `json:"users"`
	}
	_ = json.Unmarshal(pl.Content, &levels)
	if len(levels.Users) != 0 {
		t.Errorf("creators listed in the new room's power levels: %s", pl.Content)
	}
}
