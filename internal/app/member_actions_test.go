package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
)

// membershipOf reads the user's membership of the room and whether they
// forgot it, from the room tables.
func membershipOf(t *testing.T, srv *apptest.Server, user id.UserID, room id.RoomID) (string, bool) {
	t.Helper()
	store, err := rsstorage.OpenReader(context.Background(), srv.App.DB)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := store.MembershipsOfUser(context.Background(), user.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.RoomID == room.String() {
			return m.Membership, m.Forgotten
		}
	}
	return "", false
}

// eventually polls cond for up to ten seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestAutoAcceptInvites: with auto_accept_invites for direct messages
// from local users, a direct chat opens without the invitee's tap (and
// is marked in their m.direct), while an invite to a group room waits.
func TestAutoAcceptInvites(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.AutoAcceptInvites = config.AutoAcceptInvites{Enabled: true, OnlyForDirectMessages: true, OnlyFromLocalUsers: true}
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	group, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Referat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	dm, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob in the direct chat", func() bool { m, _ := membershipOf(t, srv, bob.UserID, dm.RoomID); return m == "join" })
	var direct map[string][]string
	if err := bob.GetAccountData(ctx, event.AccountDataDirectChats.Type, &direct); err != nil {
		t.Fatalf("m.direct: %v", err)
	}
	if rooms := direct[alice.UserID.String()]; len(rooms) != 1 || rooms[0] != dm.RoomID.String() {
		t.Fatalf("m.direct = %v", direct)
	}
	// The group invite came first in the stream and was passed over.
	if m, _ := membershipOf(t, srv, bob.UserID, group.RoomID); m != "invite" {
		t.Fatalf("group room: bob is %q, want still invited", m)
	}
}

// TestForgetRoomsOnLeave: with forget_rooms_on_leave, a room a user
// leaves or is kicked from is forgotten; without it, it is not.
func TestForgetRoomsOnLeave(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		cfg := apptest.Config(t.TempDir())
		cfg.ForgetRoomsOnLeave = on
		srv := apptest.StartWith(t, cfg)
		ctx := context.Background()
		alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
		room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*mautrix.Client{bob, carol} {
			if _, err := c.JoinRoomByID(ctx, room.RoomID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := bob.LeaveRoom(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.KickUser(ctx, room.RoomID, &mautrix.ReqKickUser{UserID: carol.UserID}); err != nil {
			t.Fatal(err)
		}
		// A message after both: when alice's own member event of it has
		// gone through, the leaves before it have too.
		if _, err := alice.SendText(ctx, room.RoomID, "fertig"); err != nil {
			t.Fatal(err)
		}
		for _, u := range []id.UserID{bob.UserID, carol.UserID} {
			if on {
				eventually(t, u.String()+" forgot the room", func() bool { _, f := membershipOf(t, srv, u, room.RoomID); return f })
				continue
			}
			time.Sleep(200 * time.Millisecond)
			if m, f := membershipOf(t, srv, u, room.RoomID); m != "leave" || f {
				t.Fatalf("without forget_rooms_on_leave: %s is %q forgotten %v", u, m, f)
			}
		}
	}
}

// TestIncludeProfileDataOnInvite: the invite carries the invitee's name
// and avatar only when include_profile_data_on_invite says so.
func TestIncludeProfileDataOnInvite(t *testing.T) {
	t.Parallel()
	for _, include := range []bool{true, false} {
		cfg := apptest.Config(t.TempDir())
		cfg.IncludeProfileDataOnInvite = include
		srv := apptest.StartWith(t, cfg)
		ctx := context.Background()
		alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
		if err := bob.SetDisplayName(ctx, "Bob Beamter"); err != nil {
			t.Fatal(err)
		}
		for _, how := range []string{"createRoom", "invite"} {
			var roomID id.RoomID
			if how == "createRoom" {
				r, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
				if err != nil {
					t.Fatal(err)
				}
				roomID = r.RoomID
			} else {
				r, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
				if err != nil {
					t.Fatal(err)
				}
				roomID = r.RoomID
				if _, err := alice.InviteUser(ctx, roomID, &mautrix.ReqInviteUser{UserID: bob.UserID}); err != nil {
					t.Fatal(err)
				}
			}
			var content map[string]any
			if err := alice.StateEvent(ctx, roomID, event.StateMember, bob.UserID.String(), &content); err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(content)
			if _, has := content["displayname"]; has != include {
				t.Fatalf("include %v, %s: invite = %s", include, how, raw)
			}
		}
	}
}
