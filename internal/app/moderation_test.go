package app_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// registerAdmin registers a server admin through shared-secret
// registration, as an operator would.
func registerAdmin(t *testing.T, srv *apptest.Server, name string) *mautrix.Client {
	t.Helper()
	resp, err := http.Get(srv.URL + "/_synapse/admin/v1/register")
	if err != nil {
		t.Fatal(err)
	}
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&nonce)
	resp.Body.Close()
	const password = "admin-password-1"
	mac := hmac.New(sha1.New, []byte("test-secret"))
	mac.Write([]byte(nonce.Nonce + "\x00" + name + "\x00" + password + "\x00admin"))
	body, _ := json.Marshal(map[string]any{"nonce": nonce.Nonce, "username": name, "password": password, "admin": true,
		"mac": hex.EncodeToString(mac.Sum(nil))})
	resp, err = http.Post(srv.URL+"/_synapse/admin/v1/register", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reg struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin registration: %d %v", resp.StatusCode, err)
	}
	cli, err := mautrix.NewClient(srv.URL, "", reg.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	cli.UserID = id.UserID(reg.UserID)
	return cli
}

// The admin endpoints for locking and suspending accounts (spec v1.18),
// and what locking and suspension do to the account.
func TestAccountLockingAndSuspension(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	admin := registerAdmin(t, srv, "admin")
	otherAdmin := registerAdmin(t, srv, "admin2")
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	room, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	own, err := alice.SendText(ctx, room.RoomID, "before")
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := bob.SendText(ctx, room.RoomID, "bob's")
	if err != nil {
		t.Fatal(err)
	}

	adminCall := func(cli *mautrix.Client, method, path string, body any) (int, map[string]any) {
		return rawCallPath(t, cli, method, "/_matrix/client/v1"+path, body)
	}
	tests := []struct {
		name    string
		cli     *mautrix.Client
		method  string
		path    string
		body    any
		status  int
		errcode string
	}{
		{"not an admin", bob, "PUT", "/admin/suspend/" + alice.UserID.String(), map[string]any{"suspended": true}, 403, "M_FORBIDDEN"},
		{"not an admin reading", bob, "GET", "/admin/lock/" + alice.UserID.String(), nil, 403, "M_FORBIDDEN"},
		{"remote user", admin, "GET", "/admin/lock/@alice:elsewhere", nil, 400, "M_INVALID_PARAM"},
		{"unknown user", admin, "PUT", "/admin/lock/@nobody:localhost", map[string]any{"locked": true}, 404, "M_NOT_FOUND"},
		{"own account", admin, "PUT", "/admin/lock/" + admin.UserID.String(), map[string]any{"locked": true}, 403, "M_FORBIDDEN"},
		{"another admin", admin, "PUT", "/admin/suspend/" + otherAdmin.UserID.String(), map[string]any{"suspended": true}, 403, "M_FORBIDDEN"},
		{"not a boolean", admin, "PUT", "/admin/suspend/" + alice.UserID.String(), map[string]any{"suspended": "yes"}, 400, "M_BAD_JSON"},
		{"read", admin, "GET", "/admin/suspend/" + alice.UserID.String(), nil, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := adminCall(tc.cli, tc.method, tc.path, tc.body); status != tc.status || (tc.errcode != "" && body["errcode"] != tc.errcode) {
				t.Errorf("got %d %v, want %d %s", status, body, tc.status, tc.errcode)
			}
		})
	}
	if _, body := rawCall(t, admin, "GET", "/capabilities", nil); body["capabilities"].(map[string]any)["m.account_moderation"] == nil {
		t.Errorf("admin capabilities lack m.account_moderation: %v", body)
	}
	if _, body := rawCall(t, bob, "GET", "/capabilities", nil); body["capabilities"].(map[string]any)["m.account_moderation"] != nil {
		t.Errorf("non-admin capabilities have m.account_moderation: %v", body)
	}

	// Suspended: reading, leaving and redacting one's own events work;
	// sending, joining, inviting, profile changes and redacting others'
	// events get 403 M_USER_SUSPENDED.
	if status, body := adminCall(admin, "PUT", "/admin/suspend/"+alice.UserID.String(), map[string]any{"suspended": true}); status != 200 || body["suspended"] != true {
		t.Fatalf("suspend: %d %v", status, body)
	}
	refused := []struct{ method, path string }{
		{"PUT", "/rooms/" + room.RoomID.String() + "/send/m.room.message/s1"},
		{"PUT", "/rooms/" + room.RoomID.String() + "/state/m.room.topic"},
		{"POST", "/createRoom"},
		{"POST", "/rooms/" + room.RoomID.String() + "/invite"},
		{"POST", "/join/" + room.RoomID.String()},
		{"PUT", "/profile/" + alice.UserID.String() + "/displayname"},
		{"PUT", "/rooms/" + room.RoomID.String() + "/redact/" + bobs.EventID.String() + "/r1"},
	}
	for _, c := range refused {
		if status, body := rawCall(t, alice, c.method, c.path, map[string]any{"body": "x", "msgtype": "m.text", "user_id": bob.UserID, "displayname": "x"}); status != 403 || body["errcode"] != "M_USER_SUSPENDED" {
			t.Errorf("suspended %s %s: %d %v", c.method, c.path, status, body)
		}
	}
	if _, err := alice.SyncRequest(ctx, 0, "", "", false, ""); err != nil {
		t.Errorf("suspended sync: %v", err)
	}
	if _, err := alice.RedactEvent(ctx, room.RoomID, own.EventID); err != nil {
		t.Errorf("suspended user redacting their own event: %v", err)
	}
	if _, err := alice.LeaveRoom(ctx, room.RoomID); err != nil {
		t.Errorf("suspended user leaving: %v", err)
	}
	if status, body := adminCall(admin, "PUT", "/admin/suspend/"+alice.UserID.String(), map[string]any{"suspended": false}); status != 200 || body["suspended"] != false {
		t.Fatalf("unsuspend: %d %v", status, body)
	}
	if _, err := alice.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Errorf("join after unsuspending: %v", err)
	}

	// Locked: every request but logout is 401 M_USER_LOCKED with
	// soft_logout, and no new login; the session survives the lock.
	if status, body := adminCall(admin, "PUT", "/admin/lock/"+alice.UserID.String(), map[string]any{"locked": true}); status != 200 || body["locked"] != true {
		t.Fatalf("lock: %d %v", status, body)
	}
	if status, body := adminCall(admin, "GET", "/admin/lock/"+alice.UserID.String(), nil); status != 200 || body["locked"] != true {
		t.Errorf("lock status: %d %v", status, body)
	}
	status, body := rawCall(t, alice, "GET", "/sync", nil)
	if status != 401 || body["errcode"] != "M_USER_LOCKED" || body["soft_logout"] != true {
		t.Errorf("locked sync: %d %v", status, body)
	}
	login, _ := json.Marshal(map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": alice.UserID.Localpart()}, "password": "correct horse battery staple"})
	resp, err := http.Post(srv.URL+"/_matrix/client/v3/login", "application/json", bytes.NewReader(login))
	if err != nil {
		t.Fatal(err)
	}
	var loginBody map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&loginBody)
	resp.Body.Close()
	if resp.StatusCode != 401 || loginBody["errcode"] != "M_USER_LOCKED" {
		t.Errorf("locked login: %d %v", resp.StatusCode, loginBody)
	}
	if status, body := adminCall(admin, "PUT", "/admin/lock/"+alice.UserID.String(), map[string]any{"locked": false}); status != 200 || body["locked"] != false {
		t.Fatalf("unlock: %d %v", status, body)
	}
	if _, err := alice.SendText(ctx, room.RoomID, "back"); err != nil {
		t.Errorf("send after unlocking with the old session: %v", err)
	}
	// Logout works while locked.
	if status, _ := adminCall(admin, "PUT", "/admin/lock/"+alice.UserID.String(), map[string]any{"locked": true}); status != 200 {
		t.Fatal("lock again")
	}
	if _, err := alice.Logout(ctx); err != nil {
		t.Errorf("logout while locked: %v", err)
	}
	var member event.MemberEventContent
	if err := bob.StateEvent(ctx, room.RoomID, event.StateMember, alice.UserID.String(), &member); err != nil || member.Membership != event.MembershipJoin {
		t.Errorf("alice's membership: %v %v", member.Membership, err)
	}
}
