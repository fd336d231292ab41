package app_test

import (
	"context"
	"slices"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

func TestUserDirectoryVisibility(t *testing.T) {
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
