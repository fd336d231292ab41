package app_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// A server that comes back after an outage may get only the newest event
// of a room (Synapse's catch-up sends no more), with a long gap behind
// it. The receiver fetches the whole gap, not just the last few events:
// its users page back through every message sent while it was down.
func TestFederationLongGapIsFilled(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob, room := federatedRoom(t, hs1, hs2)

	hs2.Stop(t)
	const n = 70
	for i := range n {
		if _, err := alice.SendText(ctx, room, fmt.Sprintf("Lücke %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	forgetQueued(t, hs1, hs2, n)
	if _, err := alice.SendText(ctx, room, "nach der Lücke"); err != nil {
		t.Fatal(err)
	}
	hs2.Start(t)
	waitForMessage(t, bob, room, "nach der Lücke")
	bodies := pageBack(t, bob, room)
	var missing []string
	for i := range n {
		if want := fmt.Sprintf("Lücke %d", i); !slices.Contains(bodies, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("bob's history lacks %d of the %d messages sent while hs2 was down: %q", len(missing), n, missing)
	}
}
