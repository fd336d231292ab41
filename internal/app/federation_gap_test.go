package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

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
	// Forget what hs1 queued for hs2, as a sender that trims its catch-up
	// would.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var queued int
		if err := hs1.App.DB.Read.QueryRowContext(ctx, hs1.App.DB.Schema(`SELECT COUNT(*) FROM federation_queue WHERE destination = $1 AND kind = 0`), string(hs2.ServerName)).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if queued >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := hs1.App.DB.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, hs1.App.DB.Schema(`DELETE FROM federation_queue WHERE destination = $1 AND kind = 0`), string(hs2.ServerName))
		return err
	}); err != nil {
		t.Fatal(err)
	}
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
