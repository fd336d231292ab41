package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// A user who joins a room of another server sees its history from before
// the join: paging back in /messages past the join fetches it from the
// resident server, in order, down to the room's creation.
func TestFederationBackfillHistoryBeforeJoin(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice := hs1.Register(t, "alice")
	bob := hs2.Register(t, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Archiv"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 45
	for i := 0; i < n; i++ {
		if _, err := alice.SendText(ctx, created.RoomID, fmt.Sprintf("history %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, created.RoomID, "after the join"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, created.RoomID, "after the join")

	// Page back in small pages: every page beyond the join is backfilled.
	var bodies []string
	sawCreate := false
	from := ""
	for page := 0; page < 50 && !sawCreate; page++ {
		resp, err := bob.Messages(ctx, created.RoomID, from, "", mautrix.DirectionBackward, nil, 10)
		if err != nil {
			t.Fatalf("messages: %v", err)
		}
		for _, ev := range resp.Chunk {
			if ev.Type == event.EventMessage {
				bodies = append(bodies, ev.Content.Raw["body"].(string))
			}
			if ev.Type == event.StateCreate {
				sawCreate = true
			}
		}
		if resp.End == "" {
			break
		}
		from = resp.End
	}
	if !sawCreate {
		t.Errorf("paging back never reached the create event")
	}
	// Newest first: "after the join", then history n-1 down to 0.
	want := []string{"after the join"}
	for i := n - 1; i >= 0; i-- {
		want = append(want, fmt.Sprintf("history %d", i))
	}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Errorf("messages paged back:\n got %v\nwant %v", bodies, want)
	}
	// The history is not news: a fresh /sync shows it nowhere.
	resp, err := bob.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range resp.Rooms.Join[created.RoomID].Timeline.Events {
		if body, _ := ev.Content.Raw["body"].(string); body == "history 0" {
			t.Errorf("backfilled event in /sync's timeline")
		}
	}
}
