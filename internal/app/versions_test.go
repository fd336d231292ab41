package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"maunium.net/go/mautrix"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// What /versions advertises is served: v1.11's authenticated media above
// all, since clients use the unauthenticated endpoints (frozen here)
// unless the server says v1.11, and the endpoints of v1.12 to v1.19 (each
// has its own test too).
func TestVersionsAdvertiseWhatIsServed(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	v, err := alice.Versions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, sv := range v.Versions {
		versions = append(versions, sv.String())
	}
	if !slices.Contains(versions, "v1.19") || !v.UnstableFeatures["org.matrix.msc3814"] {
		t.Fatalf("versions %v, unstable features %v", versions, v.UnstableFeatures)
	}
	if status, body := rawCallV1(t, alice, "GET", "/media/config"); status != 200 || body["m.upload.size"] == nil {
		t.Errorf("v1.11 authenticated media config: %d %v", status, body)
	}
	// v1.12: guests may use authenticated media too.
	guest, err := mautrix.NewClient(srv.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	reg, _, err := guest.RegisterGuest(context.Background(), &mautrix.ReqRegister{})
	if err != nil {
		t.Fatal(err)
	}
	guest.UserID, guest.AccessToken = reg.UserID, reg.AccessToken
	if status, body := rawCallV1(t, guest, "GET", "/media/config"); status != 200 {
		t.Errorf("v1.12 media for guests: %d %v", status, body)
	}
	// v1.13 to v1.15: reporting rooms and users, peeking by initialSync,
	// room summaries.
	room, err := alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/rooms/" + string(room.RoomID) + "/report"},
		{"POST", "/users/" + string(alice.UserID) + "/report"},
		{"GET", "/rooms/" + string(room.RoomID) + "/initialSync"},
	} {
		if status, body := rawCall(t, alice, c.method, c.path, map[string]any{"reason": "Test"}); status != 200 {
			t.Errorf("%s %s: %d %v", c.method, c.path, status, body)
		}
	}
	if status, body := rawCallV1(t, alice, "GET", "/room_summary/"+string(room.RoomID)); status != 200 || body["room_id"] != string(room.RoomID) {
		t.Errorf("v1.15 room summary: %d %v", status, body)
	}
	resp, err := http.Get(srv.URL + "/_matrix/client/v1/auth_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var errBody map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&errBody)
	resp.Body.Close()
	if resp.StatusCode != 404 || errBody["errcode"] != "M_UNRECOGNIZED" {
		t.Errorf("v1.15 auth_metadata without OAuth: %d %v", resp.StatusCode, errBody)
	}
	// v1.16: custom profile fields, state_after.
	if status, body := rawCall(t, alice, "PUT", "/profile/"+string(alice.UserID)+"/m.tz", map[string]any{"m.tz": "Europe/Berlin"}); status != 200 {
		t.Errorf("v1.16 profile field: %d %v", status, body)
	}
	if status, body := rawCall(t, alice, "GET", "/sync?use_state_after=true", nil); status != 200 || !hasStateAfter(body, room.RoomID.String()) {
		t.Errorf("v1.16 state_after: %d %v", status, body)
	}
	// v1.18: the admin endpoints exist (alice is no admin).
	if status, body := rawCallV1(t, alice, "GET", "/admin/suspend/"+string(alice.UserID)); status != 403 {
		t.Errorf("v1.18 admin suspend: %d %v", status, body)
	}
	// v1.19: mutual rooms.
	bob := srv.Register(t, "bob")
	if status, body := rawCallV1(t, alice, "GET", "/mutual_rooms?user_id="+url.QueryEscape(string(bob.UserID))); status != 200 || body["count"] != float64(0) {
		t.Errorf("v1.19 mutual rooms: %d %v", status, body)
	}
}

func hasStateAfter(body map[string]any, room string) bool {
	rooms, _ := body["rooms"].(map[string]any)
	join, _ := rooms["join"].(map[string]any)
	r, _ := join[room].(map[string]any)
	_, ok := r["state_after"]
	return ok
}
