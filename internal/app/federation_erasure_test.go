package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

// An erased user's messages reach a server that joins after the erasure
// redacted, as they reach a local user who joins later; the server whose
// user was there all along keeps them.
func TestFederationErasedUsersEventsGoRedactedToLaterServers(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 3)
	hs1, hs2, hs3 := servers[0], servers[1], servers[2]
	ctx := context.Background()
	alice, dora := hs1.Register(t, "alice"), hs1.Register(t, "dora")
	carol, bob := hs2.Register(t, "carol"), hs3.Register(t, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Akte"})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	if _, err := dora.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.JoinRoom(ctx, room.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, room, "Dienstgeheimnis"); err != nil {
		t.Fatal(err)
	}
	if _, err := dora.SendText(ctx, room, "offen"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, carol, room, "offen")

	deactivate(t, hs1.URL, alice, true)
	// The federation API learns of the erasure over the bus.
	deadline := time.Now().Add(20 * time.Second)
	for !hs1.App.Fed.Erased(alice.UserID.String()) {
		if time.Now().After(deadline) {
			t.Fatal("hs1's federation API never heard of the erasure")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if bodies := pageBack(t, carol, room); !slices.Contains(bodies, "Dienstgeheimnis") {
		t.Fatalf("carol, who was there, lost the message: %q", bodies)
	}
	// carol's server may keep and serve what it saw (the erasure is
	// alice's server's to honour): it leaves, so that bob's server can
	// only ask alice's.
	if _, err := carol.LeaveRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := dora.JoinedMembers(ctx, room); err == nil {
			if _, stillIn := resp.Joined[carol.UserID]; !stillIn {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("alice's server never heard that carol left")
		}
	}
	if _, err := bob.JoinRoom(ctx, room.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}
	bodies := pageBack(t, bob, room)
	if !slices.Contains(bodies, "offen") {
		t.Fatalf("bob's history lacks dora's message: %q", bodies)
	}
	if slices.Contains(bodies, "Dienstgeheimnis") {
		t.Fatalf("bob's server got the erased user's message whole: %q", bodies)
	}
}
