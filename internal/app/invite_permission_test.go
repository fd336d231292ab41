package app_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// Invite blocking (spec v1.18, MSC4380): a user whose
// m.invite_permission_config says "block" cannot be invited (403
// M_INVITE_BLOCKED; createRoom leaves them out), and invites they had are
// not served in /sync until they stop blocking.
func TestInviteBlocking(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	carol := srv.Register(t, "carol")

	earlier, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SetAccountData(ctx, "m.invite_permission_config", map[string]any{"default_action": "block"}); err != nil {
		t.Fatal(err)
	}

	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID, carol.UserID}})
	if err != nil {
		t.Fatalf("createRoom with a blocking invitee: %v", err)
	}
	members, err := alice.Members(ctx, room.RoomID)
	if err != nil {
		t.Fatal(err)
	}
	invited := map[id.UserID]bool{}
	for _, ev := range members.Chunk {
		if ev.Content.AsMember().Membership == event.MembershipInvite {
			invited[id.UserID(ev.GetStateKey())] = true
		}
	}
	if !invited[carol.UserID] || invited[bob.UserID] {
		t.Errorf("invited %v, want carol and not bob", invited)
	}

	tests := []struct {
		name, method, path string
		body               map[string]any
	}{
		{"invite", "POST", "/rooms/" + room.RoomID.String() + "/invite", map[string]any{"user_id": bob.UserID}},
		{"member state", "PUT", "/rooms/" + room.RoomID.String() + "/state/m.room.member/" + bob.UserID.String(), map[string]any{"membership": "invite"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := rawCall(t, alice, tc.method, tc.path, tc.body); status != 403 || body["errcode"] != "M_INVITE_BLOCKED" {
				t.Errorf("got %d %v, want 403 M_INVITE_BLOCKED", status, body)
			}
		})
	}
	// Other invites still work.
	dave := srv.Register(t, "dave")
	if _, err := alice.InviteUser(ctx, room.RoomID, &mautrix.ReqInviteUser{UserID: dave.UserID}); err != nil {
		t.Errorf("inviting a user who does not block: %v", err)
	}

	invitesOf := func() map[id.RoomID]bool {
		resp, err := bob.SyncRequest(ctx, 0, "", "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		out := map[id.RoomID]bool{}
		for r := range resp.Rooms.Invite {
			out[r] = true
		}
		return out
	}
	if got := invitesOf(); got[earlier.RoomID] {
		t.Errorf("blocked invite served in /sync: %v", got)
	}
	// The room's state still shows the invite.
	var member event.MemberEventContent
	if err := alice.StateEvent(ctx, earlier.RoomID, event.StateMember, bob.UserID.String(), &member); err != nil || member.Membership != event.MembershipInvite {
		t.Errorf("invite in the room state: %v %v", member.Membership, err)
	}
	if err := bob.SetAccountData(ctx, "m.invite_permission_config", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if got := invitesOf(); !got[earlier.RoomID] {
		t.Errorf("invite not served again after unblocking: %v", got)
	}
	if _, err := alice.InviteUser(ctx, room.RoomID, &mautrix.ReqInviteUser{UserID: bob.UserID}); err != nil {
		t.Errorf("invite after unblocking: %v", err)
	}
}
