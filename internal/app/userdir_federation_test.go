package app_test

import (
	"context"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// Users of another server are found through a public room only while one
// of our users is in it: once our server has left, what it knows of the
// room's members is stale, and nobody here should find them through it.
func TestUserDirectoryForgetsRoomsOurServerLeft(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob, carol := hs1.Register(t, "alice"), hs2.Register(t, "bob"), hs2.Register(t, "carol")
	if err := alice.SetDisplayName(ctx, "Amtsleiterin Quast"); err != nil {
		t.Fatal(err)
	}
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}
	finds := func(searcher *mautrix.Client) bool {
		t.Helper()
		resp, err := searcher.SearchUserDirectory(ctx, "Quast", 10)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(resp.Results, func(u *mautrix.UserDirectoryEntry) bool { return u.UserID == alice.UserID })
	}
	for _, c := range []struct {
		who  string
		cli  *mautrix.Client
		want bool
	}{{"bob, in the room", bob, true}, {"carol, in a public room hs2 is in", carol, true}} {
		if got := finds(c.cli); got != c.want {
			t.Errorf("%s finds alice: %v, want %v", c.who, got, c.want)
		}
	}
	if _, err := bob.LeaveRoom(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	waitForMembershipGone(t, alice, room.RoomID, bob.UserID)
	for _, c := range []struct {
		who string
		cli *mautrix.Client
	}{{"bob, who left", bob}, {"carol", carol}} {
		if finds(c.cli) {
			t.Errorf("%s finds alice through a room hs2 has left", c.who)
		}
	}
}

// waitForMembershipGone polls until user is no longer joined to room.
func waitForMembershipGone(t *testing.T, cli *mautrix.Client, room id.RoomID, user id.UserID) {
	t.Helper()
	waitForMembership(t, cli, room, user, "leave")
}
