package app_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// POST /rooms/{roomId}/upgrade over HTTP: the replacement room, with the
// additional creators the caller names when upgrading to version 12
// (spec v1.16), and the spec's errors for bad requests.
func TestUpgradeRoomOverHTTP(t *testing.T) {
	t.Parallel()
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

// A client that sends POST /upgrade and hangs up at once, before any
// answer: the upgrade, one step in the roomserver, still completes, and
// never leaves the old room tombstoned towards a room that does not exist
// or is half made (issue 10, decision 0019). For room versions where the
// tombstone is sent before the new room (11) and after it (12).
func TestUpgradeCompletesWhenClientHangsUp(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	mallory := srv.Register(t, "mallory")
	for i, version := range []string{"11", "12"} {
		t.Run("v"+version, func(t *testing.T) {
			aliasName := fmt.Sprintf("hangup%d", i)
			room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Visibility: "public", RoomVersion: "10",
				Name: "hang up", RoomAliasName: aliasName})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := mallory.JoinRoomByID(ctx, room.RoomID); err != nil {
				t.Fatal(err)
			}
			if _, err := alice.BanUser(ctx, room.RoomID, &mautrix.ReqBanUser{UserID: mallory.UserID, Reason: "spam"}); err != nil {
				t.Fatal(err)
			}
			var oldPL map[string]any
			if err := alice.StateEvent(ctx, room.RoomID, event.StatePowerLevels, "", &oldPL); err != nil {
				t.Fatal(err)
			}

			// Send the whole request on a bare connection and close it:
			// the server reads the request and finds the client gone.
			body := `{"new_version":"` + version + `"}`
			u, _ := url.Parse(srv.URL)
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /_matrix/client/v3/rooms/%s/upgrade HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				url.PathEscape(room.RoomID.String()), u.Host, alice.AccessToken, len(body), body)
			conn.Close()

			// The tombstone appears, and with it the whole new room.
			var tomb struct {
				ReplacementRoom id.RoomID `json:"replacement_room"`
			}
			deadline := time.Now().Add(10 * time.Second)
			for alice.StateEvent(ctx, room.RoomID, event.StateTombstone, "", &tomb) != nil || tomb.ReplacementRoom == "" {
				if time.Now().After(deadline) {
					t.Fatal("no tombstone in the old room after the client hung up")
				}
				time.Sleep(20 * time.Millisecond)
			}
			newRoom := tomb.ReplacementRoom
			var create struct {
				Predecessor struct {
					RoomID  id.RoomID  `json:"room_id"`
					EventID id.EventID `json:"event_id"`
				} `json:"predecessor"`
			}
			if err := alice.StateEvent(ctx, newRoom, event.StateCreate, "", &create); err != nil {
				t.Fatalf("the tombstone names %s, which alice cannot read: %v", newRoom, err)
			}
			if create.Predecessor.RoomID != room.RoomID {
				t.Errorf("predecessor %v, want %s", create.Predecessor, room.RoomID)
			}
			var name struct{ Name string }
			if err := alice.StateEvent(ctx, newRoom, event.StateRoomName, "", &name); err != nil || name.Name != "hang up" {
				t.Errorf("name in new room %q, %v", name.Name, err)
			}
			var ban struct {
				Membership string
				Reason     string
			}
			if err := alice.StateEvent(ctx, newRoom, event.StateMember, mallory.UserID.String(), &ban); err != nil || ban.Membership != "ban" || ban.Reason != "spam" {
				t.Errorf("ban in new room %+v, %v", ban, err)
			}
			var newPL map[string]any
			// (In version 12 the creator is not listed in the users.)
			if err := alice.StateEvent(ctx, newRoom, event.StatePowerLevels, "", &newPL); err != nil || (version == "11" && !reflect.DeepEqual(newPL, oldPL)) {
				t.Errorf("new room's power levels %v, want the old room's %v (%v)", newPL, oldPL, err)
			}
			var restricted struct {
				EventsDefault int `json:"events_default"`
			}
			if err := alice.StateEvent(ctx, room.RoomID, event.StatePowerLevels, "", &restricted); err != nil || restricted.EventsDefault < 50 {
				t.Errorf("old room not restricted: events_default %d, %v", restricted.EventsDefault, err)
			}
			alias := id.NewRoomAlias(aliasName, alice.UserID.Homeserver())
			if res, err := alice.ResolveAlias(ctx, alias); err != nil || res.RoomID != newRoom {
				t.Errorf("alias %s resolves to %v, %v; want %s", alias, res, err, newRoom)
			}
			var canonical struct{ Alias id.RoomAlias }
			if err := alice.StateEvent(ctx, newRoom, event.StateCanonicalAlias, "", &canonical); err != nil || canonical.Alias != alias {
				t.Errorf("canonical alias in new room %q, %v", canonical.Alias, err)
			}
			for r, want := range map[id.RoomID]string{newRoom: "public", room.RoomID: "private"} {
				if status, vis := rawCall(t, alice, "GET", "/directory/list/room/"+url.PathEscape(r.String()), nil); status != 200 || vis["visibility"] != want {
					t.Errorf("directory visibility of %s: %d %v, want %s", r, status, vis, want)
				}
			}
		})
	}
}
