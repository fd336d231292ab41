package app_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Two rohrpost servers on loopback, each with its own name and TLS
// certificate from a test CA, federate: a user of one joins a room of the
// other by alias, and messages go both ways through signed transactions.

// waitForMessage polls /messages until a message with body appears.
func waitForMessage(t *testing.T, cli *mautrix.Client, room id.RoomID, body string) *event.Event {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := cli.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 50)
		if err == nil {
			for _, ev := range resp.Chunk {
				if ev.Type == event.EventMessage && ev.Content.Raw["body"] == body {
					return ev
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: message %q did not arrive within 20s", cli.UserID, body)
	return nil
}

// waitForMembers polls /joined_members until it lists every user.
func waitForMembers(t *testing.T, cli *mautrix.Client, room id.RoomID, users ...id.UserID) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := cli.JoinedMembers(ctx, room)
		if err == nil {
			all := true
			for _, u := range users {
				if _, ok := resp.Joined[u]; !ok {
					all = false
				}
			}
			if all {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not all of %v joined %s within 20s", cli.UserID, users, room)
}

func TestFederationJoinByAliasAndChat(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice := hs1.Register(t, "alice")
	bob := hs2.Register(t, "bob")

	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "lagezentrum", Name: "Lagezentrum"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, created.RoomID, "before bob"); err != nil {
		t.Fatal(err)
	}
	alias := "#lagezentrum:" + string(hs1.ServerName)
	joined, err := bob.JoinRoom(ctx, alias, nil)
	if err != nil {
		t.Fatalf("bob joins %s over federation: %v", alias, err)
	}
	if joined.RoomID != created.RoomID {
		t.Fatalf("joined %s, want %s", joined.RoomID, created.RoomID)
	}
	waitForMembers(t, alice, created.RoomID, alice.UserID, bob.UserID)
	waitForMembers(t, bob, created.RoomID, alice.UserID, bob.UserID)

	if _, err := alice.SendText(ctx, created.RoomID, "hello from hs1"); err != nil {
		t.Fatal(err)
	}
	got := waitForMessage(t, bob, created.RoomID, "hello from hs1")
	if got.Sender != alice.UserID {
		t.Errorf("sender %s, want %s", got.Sender, alice.UserID)
	}
	if _, err := bob.SendText(ctx, created.RoomID, "hello from hs2"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, created.RoomID, "hello from hs2")

	// The room's name came with the state of the join.
	var name event.RoomNameEventContent
	if err := bob.StateEvent(ctx, created.RoomID, event.StateRoomName, "", &name); err != nil || name.Name != "Lagezentrum" {
		t.Errorf("room name on hs2: %q, %v", name.Name, err)
	}
	// Bob's /sync shows the room with alice's message.
	syncUntil(t, bob, "", "bob's sync shows the room", func(resp *mautrix.RespSync) bool {
		for _, ev := range joinedEvents(resp, created.RoomID, "timeline") {
			if ev.Content.Raw["body"] == "hello from hs1" {
				return true
			}
		}
		return false
	})
}

func TestFederationJoinByRoomIDWithVia(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice := hs1.Register(t, "alice")
	bob := hs2.Register(t, "bob")
	// Version 12 room ids name no server, so the join needs via.
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomVersion: "12"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), nil); err == nil {
		t.Fatal("joining a v12 room without via succeeded")
	}
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatalf("join with via: %v", err)
	}
	if _, err := bob.SendText(ctx, created.RoomID, "v12 works"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, created.RoomID, "v12 works")
}

func TestFederationInviteAcceptAndReject(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice := hs1.Register(t, "alice")
	bob := hs2.Register(t, "bob")
	carol := hs2.Register(t, "carol")
	// Bob is invited by createRoom (as Element starts a direct chat),
	// carol afterwards.
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Referat 7", Invite: []id.UserID{bob.UserID}, IsDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.InviteUser(ctx, created.RoomID, &mautrix.ReqInviteUser{UserID: carol.UserID}); err != nil {
		t.Fatalf("invite %s: %v", carol.UserID, err)
	}
	// Bob sees the invite with the room's name, and accepts it.
	syncUntil(t, bob, "", "bob is invited", func(resp *mautrix.RespSync) bool {
		inv, ok := resp.Rooms.Invite[created.RoomID]
		if !ok {
			return false
		}
		for _, ev := range inv.State.Events {
			if ev.Type == event.StateRoomName && ev.Content.Raw["name"] == "Referat 7" {
				return true
			}
		}
		return false
	})
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), nil); err != nil {
		t.Fatalf("bob accepts: %v", err)
	}
	// Carol rejects hers.
	if _, err := carol.LeaveRoom(ctx, created.RoomID); err != nil {
		t.Fatalf("carol rejects: %v", err)
	}
	waitForMembers(t, alice, created.RoomID, alice.UserID, bob.UserID)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var m event.MemberEventContent
		err := alice.StateEvent(ctx, created.RoomID, event.StateMember, carol.UserID.String(), &m)
		if err == nil && m.Membership == event.MembershipLeave {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice does not see carol's rejection: %v %v", m.Membership, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := bob.SendText(ctx, created.RoomID, "danke für die Einladung"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, created.RoomID, "danke für die Einladung")
	// A fresh /sync of bob's shows the room's state, although his first
	// event in it is the invite kept before he was in the room.
	resp, err := bob.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, section := range []string{"state", "timeline"} {
		for _, ev := range joinedEvents(resp, created.RoomID, section) {
			if ev.Type == event.StateRoomName && ev.Content.Raw["name"] == "Referat 7" {
				named = true
			}
		}
	}
	if !named {
		t.Errorf("bob's /sync lacks the room's name: %+v", resp.Rooms.Join[created.RoomID])
	}
}

// An invite can be rejected while the inviting server is down: the user
// is rid of it all the same.
func TestFederationRejectInviteWhileInviterIsDown(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice := hs1.Register(t, "alice")
	bob := hs2.Register(t, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.InviteUser(ctx, created.RoomID, &mautrix.ReqInviteUser{UserID: bob.UserID}); err != nil {
		t.Fatal(err)
	}
	since := syncUntil(t, bob, "", "bob is invited", func(resp *mautrix.RespSync) bool {
		_, ok := resp.Rooms.Invite[created.RoomID]
		return ok
	})
	hs1.Stop(t)
	if _, err := bob.LeaveRoom(ctx, created.RoomID); err != nil {
		t.Fatalf("reject while the inviter is down: %v", err)
	}
	syncUntil(t, bob, since, "the room moves to leave", func(resp *mautrix.RespSync) bool {
		_, ok := resp.Rooms.Leave[created.RoomID]
		return ok
	})
}

// A user knocks on a room of another server, sees it under knock in
// /sync with its name, and is let in.
func TestFederationKnock(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice := hs1.Register(t, "alice")
	bob := hs2.Register(t, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Nur auf Anfrage", RoomVersion: "10",
		InitialState: []*event.Event{{Type: event.StateJoinRules, Content: event.Content{Parsed: &event.JoinRulesEventContent{JoinRule: event.JoinRuleKnock}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.KnockRoom(ctx, created.RoomID.String(), &mautrix.ReqKnockRoom{Via: []string{string(hs1.ServerName)}, Reason: "Darf ich?"}); err != nil {
		t.Fatalf("knock: %v", err)
	}
	syncUntil(t, bob, "", "bob's knock shows with the room's name", func(resp *mautrix.RespSync) bool {
		kr, ok := resp.Rooms.Knock[created.RoomID]
		if !ok {
			return false
		}
		for _, ev := range kr.State.Events {
			if ev.Type == event.StateRoomName && ev.Content.Raw["name"] == "Nur auf Anfrage" {
				return true
			}
		}
		return false
	})
	waitForMembership(t, alice, created.RoomID, bob.UserID, event.MembershipKnock)
	if _, err := alice.InviteUser(ctx, created.RoomID, &mautrix.ReqInviteUser{UserID: bob.UserID}); err != nil {
		t.Fatalf("let bob in: %v", err)
	}
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatalf("bob joins: %v", err)
	}
	waitForMembers(t, alice, created.RoomID, alice.UserID, bob.UserID)
}

// A user of the other server redacts their own message (also through
// r0.0's POST /redact without a transaction id): it is redacted on both
// servers.
func TestFederationRemoteRedaction(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob, room := federatedRoom(t, hs1, hs2)
	sent, err := bob.SendText(ctx, room, "ein Versehen")
	if err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, room, "ein Versehen")
	status, body := rawCall(t, bob, "POST", "/rooms/"+url.PathEscape(room.String())+"/redact/"+url.PathEscape(sent.EventID.String()), map[string]string{"reason": "oops"})
	if status != http.StatusOK || body["event_id"] == nil {
		t.Fatalf("POST redact: %d %v", status, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ev, err := alice.GetEvent(ctx, room, sent.EventID)
		if err == nil && ev.Unsigned.RedactedBecause != nil && ev.Content.Raw["body"] == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice still sees the message unredacted: %v %v", ev, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
