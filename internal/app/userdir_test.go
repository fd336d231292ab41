package app_test

import (
	"context"
	"slices"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestUserDirectoryVisibility(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	if err := bob.SetDisplayName(ctx, "Bob Beispiel"); err != nil {
		t.Fatal(err)
	}
	private, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, private.RoomID); err != nil {
		t.Fatal(err)
	}
	finds := func(searcher *mautrix.Client, term string, want id.UserID) bool {
		t.Helper()
		resp, err := searcher.SearchUserDirectory(ctx, term, 10)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(resp.Results, func(u *mautrix.UserDirectoryEntry) bool { return u.UserID == want })
	}
	tests := []struct {
		name     string
		searcher *mautrix.Client
		term     string
		want     bool
	}{
		{"a room mate finds bob by display name", alice, "beispiel", true},
		{"a stranger does not find bob", carol, "beispiel", false},
		{"bob does not find himself through a private room", bob, "beispiel", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := finds(tc.searcher, tc.term, bob.UserID); got != tc.want {
				t.Fatalf("found = %v, want %v", got, tc.want)
			}
		})
	}
	public, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, public.RoomID); err != nil {
		t.Fatal(err)
	}
	if !finds(carol, "beispiel", bob.UserID) {
		t.Fatal("a member of a public room must be found by anyone")
	}
}

// With search_all_users every active account of the server is found,
// also without a shared room; the room's display name wins over the
// global one where the searcher shares a room.
func TestUserDirectorySearchAllUsers(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.UserDirectory.SearchAllUsers = true
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	if err := bob.SetDisplayName(ctx, "Bärbel Beispiel"); err != nil {
		t.Fatal(err)
	}
	resp, err := carol.SearchUserDirectory(ctx, "BÄRBEL", 10)
	if err != nil {
		t.Fatal(err)
	}
	// The spec's field is display_name; mautrix reads displayname, so it
	// lands in Extra.
	name := func(u *mautrix.UserDirectoryEntry) any { return u.Extra["display_name"] }
	if len(resp.Results) != 1 || resp.Results[0].UserID != bob.UserID || name(resp.Results[0]) != "Bärbel Beispiel" {
		t.Fatalf("carol's search for BÄRBEL: %+v", *resp.Results[0])
	}
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendStateEvent(ctx, room.RoomID, event.StateMember, bob.UserID.String(),
		map[string]any{"membership": "join", "displayname": "Bärbel im Referat"}); err != nil {
		t.Fatal(err)
	}
	resp, err = alice.SearchUserDirectory(ctx, "bärbel", 10)
	if err != nil {
		t.Fatal(err)
	}
	// The global name, not the room one (issue 15, decision 0017).
	if len(resp.Results) != 1 || name(resp.Results[0]) != "Bärbel Beispiel" {
		t.Fatalf("alice's search: %+v, want bob once with his global name", resp.Results)
	}
	// Searchers do not find themselves.
	if resp, _ := bob.SearchUserDirectory(ctx, "bärbel", 10); len(resp.Results) != 0 {
		t.Fatalf("bob finds %+v", resp.Results)
	}
}
