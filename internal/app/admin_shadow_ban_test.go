package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// A shadow-banned user's sends succeed for them and reach nobody; lifting
// the ban lets them through again.
func TestAdminAPIShadowBan(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	admin := registerAdmin(t, srv, "shadowadmin")
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	carol := srv.Register(t, "carol")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Topic: "Anfang"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	u := "/v1/users/" + alice.UserID.String() + "/shadow_ban"
	if status, body := adminCall(t, bob, "POST", u, nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
		t.Fatalf("as a non-admin: %d %v", status, body)
	}
	if status, body := adminCall(t, admin, "POST", "/v1/users/@nobody:localhost/shadow_ban", nil); status != 404 || body["errcode"] != "M_NOT_FOUND" {
		t.Fatalf("unknown user: %d %v", status, body)
	}
	if status, body := adminCall(t, admin, "POST", u, nil); status != 200 {
		t.Fatalf("shadow ban: %d %v", status, body)
	}
	if _, body := adminCall(t, admin, "GET", "/v2/users/"+alice.UserID.String(), nil); body["shadow_banned"] != true {
		t.Fatalf("user: %v", body)
	}
	// seen tells whether bob can fetch the event.
	seen := func(evID id.EventID) bool {
		t.Helper()
		_, err := bob.GetEvent(ctx, room.RoomID, evID)
		return err == nil
	}

	sent, err := alice.SendText(ctx, room.RoomID, "Werbung")
	if err != nil || sent.EventID == "" {
		t.Fatalf("send while shadow-banned: %v (%v)", sent, err)
	}
	if seen(sent.EventID) {
		t.Fatal("bob sees the shadow-banned message")
	}
	topic, err := alice.SendStateEvent(ctx, room.RoomID, event.StateTopic, "", map[string]any{"topic": "Werbung"})
	if err != nil || topic.EventID == "" || seen(topic.EventID) {
		t.Fatalf("state while shadow-banned: %v (%v)", topic, err)
	}
	var content struct {
		Topic string `json:"topic"`
	}
	if err := bob.StateEvent(ctx, room.RoomID, event.StateTopic, "", &content); err != nil || content.Topic != "Anfang" {
		t.Fatalf("topic %q (%v)", content.Topic, err)
	}
	if _, err := alice.InviteUser(ctx, room.RoomID, &mautrix.ReqInviteUser{UserID: carol.UserID}); err != nil {
		t.Fatalf("invite while shadow-banned: %v", err)
	}
	other, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{carol.UserID}})
	if err != nil {
		t.Fatalf("createRoom with an invite while shadow-banned: %v", err)
	}
	status, body := adminCall(t, admin, "GET", "/v1/users/"+carol.UserID.String()+"/memberships", nil)
	if ms, _ := body["memberships"].(map[string]any); status != 200 || len(ms) != 0 {
		t.Fatalf("carol got invites (rooms %s, %s): %v", room.RoomID, other.RoomID, body)
	}
	if _, err := alice.UserTyping(ctx, room.RoomID, true, 0); err != nil {
		t.Fatalf("typing while shadow-banned: %v", err)
	}

	if status, body := adminCall(t, admin, "DELETE", u, nil); status != 200 {
		t.Fatalf("lift: %d %v", status, body)
	}
	sent, err = alice.SendText(ctx, room.RoomID, "Wieder da")
	if err != nil || !seen(sent.EventID) {
		t.Fatalf("send after the ban was lifted: %v (%v)", sent, err)
	}
	status, body = adminCall(t, admin, "GET", "/v1/audit_log?target="+alice.UserID.String(), nil)
	if status != 200 || body["total"] != float64(2) {
		t.Fatalf("audit: %d %v", status, body)
	}
}
