package app_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

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
