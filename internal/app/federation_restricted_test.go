package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// A user of another server joins a restricted room because they are in
// its space. The first server they ask is in the room but not in the
// space, so it cannot authorise the join (M_UNABLE_TO_AUTHORISE_JOIN); the
// join then goes through the server that can, whose member signs it.
func TestFederationRestrictedJoinThroughAuthorisingServer(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 3)
	hs1, hs2, hs3 := servers[0], servers[1], servers[2]
	ctx := context.Background()
	alice, bob, carol := hs1.Register(t, "alice"), hs2.Register(t, "bob"), hs3.Register(t, "carol")
	space, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomVersion: "10", CreationContent: map[string]any{"type": "m.space"}})
	if err != nil {
		t.Fatal(err)
	}
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", RoomVersion: "10", Name: "Fachgruppe",
		Invite:       []id.UserID{carol.UserID},
		InitialState: admittedFrom("restricted", space.RoomID.String())})
	if err != nil {
		t.Fatal(err)
	}
	waitForMembership(t, alice, room.RoomID, carol.UserID, event.MembershipInvite)
	if _, err := carol.JoinRoom(ctx, room.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatalf("carol accepts her invite: %v", err)
	}
	via := &mautrix.ReqJoinRoom{Via: []string{string(hs3.ServerName), string(hs1.ServerName)}}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), via); err == nil {
		t.Fatal("bob joined without being in the space")
	}
	if _, err := bob.JoinRoom(ctx, space.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatalf("bob joins the space: %v", err)
	}
	waitForMembers(t, alice, space.RoomID, alice.UserID, bob.UserID)
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), via); err != nil {
		t.Fatalf("bob joins the restricted room: %v", err)
	}
	var member map[string]any
	if err := bob.StateEvent(ctx, room.RoomID, event.StateMember, bob.UserID.String(), &member); err != nil {
		t.Fatal(err)
	}
	if member["membership"] != "join" || member["join_authorised_via_users_server"] != alice.UserID.String() {
		t.Fatalf("bob's member event: %v", member)
	}
	if _, err := bob.SendText(ctx, room.RoomID, "Hallo Fachgruppe"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, carol, room.RoomID, "Hallo Fachgruppe")
	waitForMessage(t, alice, room.RoomID, "Hallo Fachgruppe")
}

// The server a remote user joins through names as authoriser one of its
// users who is in the restricted room, not one who is merely in the
// allowed room (even with power in the restricted room): the auth rules
// accept only a joined member.
func TestFederationRestrictedJoinAuthoriserIsInTheRoom(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	// "aaron" sorts before "zora": he would be the first candidate.
	zora, aaron, bob := hs1.Register(t, "zora"), hs1.Register(t, "aaron"), hs2.Register(t, "bob")
	space, err := zora.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomVersion: "10"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aaron.JoinRoomByID(ctx, space.RoomID); err != nil {
		t.Fatal(err)
	}
	room, err := zora.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", RoomVersion: "10",
		PowerLevelOverride: &event.PowerLevelsEventContent{Users: map[id.UserID]int{zora.UserID: 100, aaron.UserID: 100}},
		InitialState:       admittedFrom("restricted", space.RoomID.String())})
	if err != nil {
		t.Fatal(err)
	}
	via := &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}
	if _, err := bob.JoinRoom(ctx, space.RoomID.String(), via); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), via); err != nil {
		t.Fatalf("bob joins the restricted room: %v", err)
	}
	var member map[string]any
	if err := zora.StateEvent(ctx, room.RoomID, event.StateMember, bob.UserID.String(), &member); err != nil {
		t.Fatal(err)
	}
	if member["join_authorised_via_users_server"] != zora.UserID.String() {
		t.Fatalf("bob's join names %v as authoriser, want zora", member["join_authorised_via_users_server"])
	}
}

// Our server is in a restricted room, but none of our members in it may
// invite: the join goes through the other server, whose member
// authorises it, though we hold the room already.
func TestFederationRestrictedJoinThroughOthersWhenWeCannotAuthorise(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob, carol := hs1.Register(t, "alice"), hs2.Register(t, "bob"), hs2.Register(t, "carol")
	space, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomVersion: "10", CreationContent: map[string]any{"type": "m.space"}})
	if err != nil {
		t.Fatal(err)
	}
	// public_chat: inviting takes power 50, which nobody of hs2 has.
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomVersion: "10", Name: "Arbeitsgruppe",
		InitialState: admittedFrom("restricted", space.RoomID.String())})
	if err != nil {
		t.Fatal(err)
	}
	via := &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}
	for _, c := range []*mautrix.Client{bob, carol} {
		if _, err := c.JoinRoom(ctx, space.RoomID.String(), via); err != nil {
			t.Fatalf("%s joins the space: %v", c.UserID, err)
		}
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), via); err != nil {
		t.Fatalf("bob joins the room: %v", err)
	}
	// hs2 holds the room now; carol's join cannot be authorised there.
	if _, err := carol.JoinRoom(ctx, room.RoomID.String(), nil); err != nil {
		t.Fatalf("carol joins the room: %v", err)
	}
	var member map[string]any
	if err := carol.StateEvent(ctx, room.RoomID, event.StateMember, carol.UserID.String(), &member); err != nil {
		t.Fatal(err)
	}
	if member["membership"] != "join" || member["join_authorised_via_users_server"] != alice.UserID.String() {
		t.Fatalf("carol's member event: %v", member)
	}
	if _, err := carol.SendText(ctx, room.RoomID, "Hallo Arbeitsgruppe"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, room.RoomID, "Hallo Arbeitsgruppe")
	waitForMessage(t, bob, room.RoomID, "Hallo Arbeitsgruppe")
}
