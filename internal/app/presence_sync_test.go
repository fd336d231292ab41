package app_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// Syncing marks a user online unless the client asks otherwise
// (set_presence, whose default is "online"), and so does the old event
// stream.
func TestSyncMarksUserOnline(t *testing.T) {
	t.Parallel()
	hs := apptest.Start(t)
	ctx := context.Background()
	alice := hs.Register(t, "alice")
	if _, err := alice.SyncRequest(ctx, 0, "", "", false, ""); err != nil {
		t.Fatal(err)
	}
	got, err := alice.GetPresence(ctx, alice.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Presence != event.PresenceOnline {
		t.Fatalf("after a sync alice is %q, want online", got.Presence)
	}

	// The deprecated event stream marks its user online too.
	bob := hs.Register(t, "bob")
	if _, err := bob.SyncRequest(ctx, 0, "", "", false, event.PresenceOffline); err != nil {
		t.Fatal(err)
	}
	if got, err := bob.GetPresence(ctx, bob.UserID); err != nil || got.Presence != event.PresenceOffline {
		t.Fatalf("after a sync with set_presence=offline bob is %+v (%v), want offline", got, err)
	}
	if _, err := bob.MakeRequest(ctx, "GET", bob.BuildURLWithQuery(mautrix.ClientURLPath{"r0", "events"}, map[string]string{"timeout": "0"}), nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := bob.GetPresence(ctx, bob.UserID); err != nil || got.Presence != event.PresenceOnline {
		t.Fatalf("after GET /events bob is %+v (%v), want online", got, err)
	}
}

// Two users who never set their presence but sync (and so are online)
// see each other online as soon as they share a new room across servers.
func TestFederationSyncedPresenceOnNewChat(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob := hs1.Register(t, "alice"), hs2.Register(t, "bob")
	aliceSince, bobSince := currentSince(t, alice), currentSince(t, bob)
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	waitForMembership(t, alice, room.RoomID, bob.UserID, event.MembershipInvite)
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}
	syncUntil(t, bob, bobSince, "bob sees alice online", func(resp *mautrix.RespSync) bool {
		c, ok := presenceIn(resp, alice.UserID)
		return ok && c["presence"] == "online"
	})
	syncUntil(t, alice, aliceSince, "alice sees bob online", func(resp *mautrix.RespSync) bool {
		c, ok := presenceIn(resp, bob.UserID)
		return ok && c["presence"] == "online"
	})
}
