package app_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/synapseadmin"
)

func esc(s string) string { return url.PathEscape(s) }

// loginAs logs in with a password and returns the client, or the error.
func loginAs(srv *apptest.Server, user id.UserID, password string) (*mautrix.Client, error) {
	cli, _ := mautrix.NewClient(srv.URL, "", "")
	_, err := cli.Login(context.Background(), &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: user.String()}, Password: password, StoreCredentials: true})
	return cli, err
}

func httpStatus(err error) int {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Response != nil {
		return httpErr.Response.StatusCode
	}
	return 0
}

// synapse-admin's user management: create, list with filters, details,
// edit, password reset, admin flag, lock, devices, whois, joined rooms,
// deactivation, and the audit log of it all.
func TestAdminAPIUsers(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	root := registerAdmin(t, srv, "root")
	sa := &synapseadmin.Client{Client: root}
	alice := srv.Register(t, "alice")
	domain := root.UserID.Homeserver()
	carol := id.NewUserID("carol", domain)

	// Create with PUT: 201, then the details.
	status, body := adminCall(t, root, "PUT", "/v2/users/"+esc(carol.String()), map[string]any{
		"password": "carols-password", "displayname": "Carol", "admin": false, "threepids": []any{}, "external_ids": []any{}})
	if status != 201 || body["name"] != carol.String() || body["displayname"] != "Carol" || body["admin"] != false {
		t.Fatalf("create: %d %v", status, body)
	}
	if _, err := loginAs(srv, carol, "carols-password"); err != nil {
		t.Fatalf("carol logs in: %v", err)
	}
	info, err := sa.GetUserInfo(ctx, carol)
	if err != nil || info.DisplayName != "Carol" || info.Admin || info.Deactivated || info.CreationTS.IsZero() {
		t.Fatalf("GetUserInfo: %v %+v", err, info)
	}
	if _, err := sa.GetUserInfo(ctx, id.NewUserID("nobody", domain)); httpStatus(err) != 404 {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := sa.UsernameAvailable(ctx, "carol"); httpStatus(err) != 400 {
		t.Fatalf("carol's name available: %v", err)
	}
	if _, err := sa.UsernameAvailable(ctx, "dora"); err != nil {
		t.Fatalf("dora available: %v", err)
	}

	// Edit with mautrix's CreateOrModifyAccount: name and admin flag.
	yes := true
	if err := sa.CreateOrModifyAccount(ctx, carol, synapseadmin.ReqCreateOrModifyAccount{Displayname: "Carol K.", Admin: &yes}); err != nil {
		t.Fatal(err)
	}
	if status, body := adminCall(t, root, "GET", "/v1/users/"+esc(carol.String())+"/admin", nil); status != 200 || body["admin"] != true {
		t.Fatalf("carol admin: %d %v", status, body)
	}
	if status, _ := adminCall(t, root, "PUT", "/v1/users/"+esc(carol.String())+"/admin", map[string]any{"admin": false}); status != 200 {
		t.Fatalf("demote carol: %d", status)
	}
	if status, body := adminCall(t, root, "PUT", "/v1/users/"+esc(root.UserID.String())+"/admin", map[string]any{"admin": false}); status != 400 {
		t.Fatalf("demote self: %d %v", status, body)
	}

	// The list, with filters and paging.
	status, body = adminCall(t, root, "GET", "/v2/users?limit=2&order_by=name", nil)
	if users, _ := body["users"].([]any); status != 200 || len(users) != 2 || body["total"] != float64(3) || body["next_token"] != "2" {
		t.Fatalf("first page: %d %v", status, body)
	}
	status, body = adminCall(t, root, "GET", "/v2/users?from=2&limit=2&order_by=name", nil)
	if users, _ := body["users"].([]any); status != 200 || len(users) != 1 || body["next_token"] != nil {
		t.Fatalf("last page: %d %v", status, body)
	}
	status, body = adminCall(t, root, "GET", "/v2/users?name=carol+k", nil)
	if users, _ := body["users"].([]any); status != 200 || len(users) != 1 || users[0].(map[string]any)["name"] != carol.String() {
		t.Fatalf("by display name: %d %v", status, body)
	}
	status, body = adminCall(t, root, "GET", "/v2/users?admins=true", nil)
	if users, _ := body["users"].([]any); status != 200 || len(users) != 1 || users[0].(map[string]any)["name"] != root.UserID.String() {
		t.Fatalf("admins: %d %v", status, body)
	}
	for _, bad := range []string{"?order_by=password", "?from=-3", "?limit=x", "?dir=sideways", "?admins=maybe"} {
		if status, body := adminCall(t, root, "GET", "/v2/users"+bad, nil); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
			t.Fatalf("%s: %d %v", bad, status, body)
		}
	}
	if status, body := adminCall(t, alice, "GET", "/v2/users", nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
		t.Fatalf("alice lists users: %d %v", status, body)
	}

	// Password reset logs the devices out unless told not to.
	carolCli, err := loginAs(srv, carol, "carols-password")
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.ResetPassword(ctx, synapseadmin.ReqResetPassword{UserID: carol, NewPassword: "new-password", LogoutDevices: false}); err != nil {
		t.Fatal(err)
	}
	if _, err := carolCli.Whoami(ctx); err != nil {
		t.Fatalf("carol kept her device: %v", err)
	}
	no := false
	if err := sa.CreateOrModifyAccount(ctx, carol, synapseadmin.ReqCreateOrModifyAccount{Password: "newer-password", LogoutDevices: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := carolCli.Whoami(ctx); httpStatus(err) != 401 {
		t.Fatalf("carol's device after a reset with logout: %v", err)
	}
	_ = no

	// Devices: create, list, rename, get, delete.
	devPath := "/v2/users/" + esc(carol.String()) + "/devices"
	if status, body := adminCall(t, root, "POST", devPath, map[string]any{"device_id": "ADMINMADE"}); status != 201 {
		t.Fatalf("create device: %d %v", status, body)
	}
	if status, _ := adminCall(t, root, "PUT", devPath+"/ADMINMADE", map[string]any{"display_name": "Laptop"}); status != 200 {
		t.Fatalf("rename device: %d", status)
	}
	if status, body := adminCall(t, root, "GET", devPath+"/ADMINMADE", nil); status != 200 || body["display_name"] != "Laptop" || body["user_id"] != carol.String() {
		t.Fatalf("get device: %d %v", status, body)
	}
	if status, _ := adminCall(t, root, "GET", devPath+"/NOPE", nil); status != 404 {
		t.Fatalf("unknown device: %d", status)
	}
	devs, err := sa.ListDevices(ctx, carol)
	if err != nil || devs.Total != 1 || devs.Devices[0].DeviceID != "ADMINMADE" {
		t.Fatalf("ListDevices: %v %+v", err, devs)
	}
	if status, _ := adminCall(t, root, "POST", "/v2/users/"+esc(carol.String())+"/delete_devices", map[string]any{"devices": []string{"ADMINMADE"}}); status != 200 {
		t.Fatalf("delete_devices: %d", status)
	}
	if devs, err := sa.ListDevices(ctx, carol); err != nil || devs.Total != 0 {
		t.Fatalf("devices after delete: %v %+v", err, devs)
	}

	// whois and joined rooms.
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Whoami(ctx); err != nil {
		t.Fatal(err)
	}
	status, body = adminCall(t, root, "GET", "/v1/whois/"+esc(alice.UserID.String()), nil)
	if devices, _ := body["devices"].(map[string]any); status != 200 || devices[alice.DeviceID.String()] == nil {
		t.Fatalf("whois: %d %v", status, body)
	}
	status, body = adminCall(t, root, "GET", "/v1/users/"+esc(alice.UserID.String())+"/joined_rooms", nil)
	if rooms, _ := body["joined_rooms"].([]any); status != 200 || len(rooms) != 1 || rooms[0] != room.RoomID.String() || body["total"] != float64(1) {
		t.Fatalf("joined_rooms: %d %v", status, body)
	}

	// Lock, then deactivate with erase.
	if err := sa.CreateOrModifyAccount(ctx, alice.UserID, synapseadmin.ReqCreateOrModifyAccount{Locked: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Whoami(ctx); httpStatus(err) != 401 {
		t.Fatalf("locked alice: %v", err)
	}
	status, body = adminCall(t, root, "GET", "/v2/users?locked=true&user_id=alice", nil)
	if users, _ := body["users"].([]any); status != 200 || len(users) != 1 || users[0].(map[string]any)["locked"] != true {
		t.Fatalf("locked list: %d %v", status, body)
	}
	if err := sa.DeactivateAccount(ctx, alice.UserID, synapseadmin.ReqDeleteUser{Erase: true}); err != nil {
		t.Fatal(err)
	}
	info, err = sa.GetUserInfo(ctx, alice.UserID)
	if err != nil || !info.Deactivated || !info.Erased {
		t.Fatalf("alice after deactivation: %v %+v", err, info)
	}
	if members, err := root.JoinedMembers(ctx, room.RoomID); err == nil && len(members.Joined) != 0 {
		t.Fatalf("alice still in her room: %+v", members.Joined)
	}
	status, body = adminCall(t, root, "GET", "/v2/users?user_id=alice", nil)
	if users, _ := body["users"].([]any); status != 200 || len(users) != 0 {
		t.Fatalf("deactivated users are not listed by default: %v", body)
	}
	status, body = adminCall(t, root, "GET", "/v2/users?user_id=alice&deactivated=true&locked=true", nil)
	if users, _ := body["users"].([]any); status != 200 || len(users) != 1 {
		t.Fatalf("deactivated=true: %v", body)
	}
	// Reactivation needs a password.
	if status, _ := adminCall(t, root, "PUT", "/v2/users/"+esc(alice.UserID.String()), map[string]any{"deactivated": false}); status != 400 {
		t.Fatalf("reactivate without password: %d", status)
	}
	if status, _ := adminCall(t, root, "PUT", "/v2/users/"+esc(alice.UserID.String()), map[string]any{"deactivated": false, "password": "back-again", "locked": false}); status != 200 {
		t.Fatalf("reactivate: %d", status)
	}
	if _, err := loginAs(srv, alice.UserID, "back-again"); err != nil {
		t.Fatalf("alice logs in again: %v", err)
	}

	// Every action is in the audit log, with the admin and the target;
	// reads are not.
	status, body = adminCall(t, root, "GET", "/v1/audit_log?target="+url.QueryEscape(carol.String())+"&dir=f", nil)
	entries, _ := body["entries"].([]any)
	if status != 200 || len(entries) < 4 {
		t.Fatalf("audit log of carol: %d %v", status, body)
	}
	first := entries[0].(map[string]any)
	if first["action"] != "user.modify" || first["admin"] != root.UserID.String() || first["status"] != float64(201) ||
		first["details"].(map[string]any)["created"] != true {
		t.Fatalf("first entry: %v", first)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	want := []string{"user.modify", "user.modify", "user.set_admin", "user.reset_password", "user.modify"}
	for i, a := range want {
		if i >= len(actions) || actions[i] != a {
			t.Fatalf("actions on carol %v, want %v first", actions, want)
		}
	}
	status, body = adminCall(t, root, "GET", "/v1/audit_log?action=user.set_admin", nil)
	entries, _ = body["entries"].([]any)
	if status != 200 || len(entries) != 2 || entries[0].(map[string]any)["status"] != float64(400) {
		t.Fatalf("set_admin entries, the refused one newest: %v", body)
	}
	status, body = adminCall(t, root, "GET", "/v1/audit_log?action=user.deactivate", nil)
	entries, _ = body["entries"].([]any)
	if status != 200 || len(entries) != 1 || entries[0].(map[string]any)["details"].(map[string]any)["erase"] != true {
		t.Fatalf("deactivate entry: %v", body)
	}
}
