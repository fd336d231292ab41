package app_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// A member of a space joins the space's restricted rooms without an
// invite: the server names a member with invite power as the authoriser.
func TestRestrictedJoinThroughSpaceMembership(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	space, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Referat", CreationContent: map[string]any{"type": "m.space"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version, rule string
	}{
		{"8", "restricted"},
		{"9", "restricted"},
		{"10", "knock_restricted"},
		{"11", "restricted"},
		{"12", "restricted"},
		{"12", "knock_restricted"},
	} {
		t.Run("v"+tc.version+"/"+tc.rule, func(t *testing.T) {
			room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", RoomVersion: id.RoomVersion(tc.version),
				InitialState: admittedFrom(tc.rule, space.RoomID.String())})
			if err != nil {
				t.Fatal(err)
			}
			join := func(c *mautrix.Client) (int, map[string]any) {
				return rawCall(t, c, "POST", "/join/"+url.PathEscape(room.RoomID.String()), map[string]any{})
			}
			if status, body := join(bob); status != 403 || body["errcode"] != "M_FORBIDDEN" {
				t.Fatalf("bob, not in the space, joins: %d %v", status, body)
			}
			if _, err := bob.JoinRoomByID(ctx, space.RoomID); err != nil {
				t.Fatal(err)
			}
			if status, body := join(bob); status != 200 {
				t.Fatalf("bob, in the space, joins: %d %v", status, body)
			}
			var member map[string]any
			if err := alice.StateEvent(ctx, room.RoomID, event.StateMember, bob.UserID.String(), &member); err != nil {
				t.Fatal(err)
			}
			if member["membership"] != "join" || member["join_authorised_via_users_server"] != alice.UserID.String() {
				t.Fatalf("bob's member event: %v", member)
			}
			// A client cannot name an authoriser of its own choosing.
			status, body := rawCall(t, carol, "POST", "/join/"+url.PathEscape(room.RoomID.String()),
				map[string]any{"join_authorised_via_users_server": alice.UserID.String()})
			if status != 403 {
				t.Fatalf("carol names alice as authoriser herself: %d %v", status, body)
			}
			// Joining again while joined needs no authoriser.
			if status, body := join(bob); status != 200 {
				t.Fatalf("bob joins again: %d %v", status, body)
			}
			if _, err := bob.LeaveRoom(ctx, space.RoomID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// When no member of the room on this server may invite, nobody can
// authorise the join and it is refused: the server does not name someone
// whom the auth rules would not accept.
func TestRestrictedJoinNeedsAnAuthoriserWithInvitePower(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob, dave := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "dave")
	space, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	invitePL := 100
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", RoomVersion: "10",
		PowerLevelOverride: &event.PowerLevelsEventContent{InvitePtr: &invitePL, Users: map[id.UserID]int{alice.UserID: 100, dave.UserID: 50}},
		Invite:             []id.UserID{dave.UserID},
		InitialState:       admittedFrom("restricted", space.RoomID.String(), "!unbekannt:elsewhere.example")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*mautrix.Client{bob, dave} {
		if _, err := c.JoinRoomByID(ctx, space.RoomID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dave.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.LeaveRoom(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	status, body := rawCall(t, bob, "POST", "/rooms/"+url.PathEscape(room.RoomID.String())+"/join", map[string]any{})
	if status != 403 || body["errcode"] != "M_FORBIDDEN" {
		t.Fatalf("join with nobody able to invite: %d %v", status, body)
	}
}

// admittedFrom is the initial state that makes a new room's join rule
// rule (restricted or knock_restricted) admit the members of the rooms.
func admittedFrom(rule string, rooms ...string) []*event.Event {
	allow := make([]any, 0, len(rooms))
	for _, r := range rooms {
		allow = append(allow, map[string]any{"type": "m.room_membership", "room_id": r})
	}
	return []*event.Event{{Type: event.StateJoinRules, Content: event.Content{Raw: map[string]any{"join_rule": rule, "allow": allow}}}}
}
