package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// federatedRoom makes alice (on hs1) a public room that bob (on hs2) has
// joined, seen as joined from both sides.
func federatedRoom(t *testing.T, hs1, hs2 *apptest.Server) (alice, bob *mautrix.Client, room id.RoomID) {
	t.Helper()
	ctx := context.Background()
	alice = hs1.Register(t, "alice")
	bob = hs2.Register(t, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatalf("bob joins: %v", err)
	}
	waitForMembers(t, alice, created.RoomID, alice.UserID, bob.UserID)
	return alice, bob, created.RoomID
}

// A server that is down while messages are sent gets every one of them
// once it is back: the sender's queue kept them and retries.
func TestFederationPeerDownCatchesUp(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob, room := federatedRoom(t, hs1, hs2)

	hs2.Stop(t)
	const n = 30
	for i := 0; i < n; i++ {
		if _, err := alice.SendText(ctx, room, fmt.Sprintf("while you were away %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	hs2.Start(t)
	for i := 0; i < n; i++ {
		waitForMessage(t, bob, room, fmt.Sprintf("while you were away %d", i))
	}
	// And the way back works after the outage.
	if _, err := bob.SendText(ctx, room, "back again"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, room, "back again")
}

// The sending server restarts with messages still queued: they go out
// after the restart, and the conversation carries on both ways.
func TestFederationSenderRestartsMidConversation(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob, room := federatedRoom(t, hs1, hs2)

	hs2.Stop(t)
	for i := 0; i < 10; i++ {
		if _, err := alice.SendText(ctx, room, fmt.Sprintf("queued %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// hs1 restarts while its queue for hs2 is full, then hs2 comes back.
	hs1.Restart(t)
	hs2.Start(t)
	for i := 0; i < 10; i++ {
		waitForMessage(t, bob, room, fmt.Sprintf("queued %d", i))
	}
	if _, err := bob.SendText(ctx, room, "after both restarts"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, room, "after both restarts")
	if _, err := alice.SendText(ctx, room, "and back"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, room, "and back")
}

// A user of the other server leaves and rejoins; both sides see each
// step and the conversation carries on.
func TestFederationLeaveAndRejoin(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob, room := federatedRoom(t, hs1, hs2)
	if _, err := bob.LeaveRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	waitForMembership(t, alice, room, bob.UserID, event.MembershipLeave)
	if _, err := alice.SendText(ctx, room, "while bob is away"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, room.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	waitForMembers(t, alice, room, alice.UserID, bob.UserID)
	if _, err := alice.SendText(ctx, room, "welcome back"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, room, "welcome back")
	if _, err := bob.SendText(ctx, room, "thanks"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, room, "thanks")
}
