package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// A notification whose delivery failed is not retried to a push key the
// user no longer has: here another account took the device over (the
// same app and push key, someone else logged in), and must not get the
// first user's message.
func TestPushRetryStopsWhenThePusherIsGone(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	var mu sync.Mutex
	attempts := map[string]int{}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		attempts[gjson.GetBytes(body, "notification.event_id").String()]++
		mu.Unlock()
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(gw.Close)
	url := gw.URL + "/_matrix/push/v1/notify"
	count := func(eventID id.EventID) int {
		mu.Lock()
		defer mu.Unlock()
		return attempts[string(eventID)]
	}

	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	setPusher(t, bob, "geteiltes-geraet", map[string]any{"url": url})
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	msg, err := alice.SendText(ctx, room.RoomID, "Vertraulich: Personalakte")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(msg.EventID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the gateway was never tried")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Carol logs in on bob's device: her pusher replaces his.
	setPusher(t, carol, "geteiltes-geraet", map[string]any{"url": url})

	// The first retry comes a second after the failure; give it time.
	time.Sleep(2500 * time.Millisecond)
	if n := count(msg.EventID); n != 1 {
		t.Fatalf("bob's notification went to the gateway %d times; after the push key passed to carol it must not be retried", n)
	}
}
