package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// pushOnceAcrossReplicas: with two sync servers following the room
// events, each message is pushed once, not once per replica.
func pushOnceAcrossReplicas(t *testing.T, alice, bob *mautrix.Client, roomID id.RoomID) {
	var mu sync.Mutex
	seen := map[string]int{}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if id := gjson.GetBytes(body, "notification.event_id").String(); id != "" {
			mu.Lock()
			seen[id]++
			mu.Unlock()
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"rejected": []string{}})
	}))
	defer gw.Close()
	ctx := context.Background()
	if _, err := bob.MakeRequest(ctx, "POST", bob.BuildClientURL("v3", "pushers", "set"), map[string]any{"kind": "http",
		"app_id": "de.bund.messenger.android", "pushkey": "replicas", "app_display_name": "BundesMessenger",
		"device_display_name": "Diensthandy", "lang": "de", "data": map[string]any{"url": gw.URL + "/_matrix/push/v1/notify"}}, nil); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = bob.MakeRequest(ctx, "POST", bob.BuildClientURL("v3", "pushers", "set"), map[string]any{"kind": nil,
			"app_id": "de.bund.messenger.android", "pushkey": "replicas"}, nil)
	}()
	var sent []id.EventID
	for i := range 20 {
		resp, err := alice.SendText(ctx, roomID, "Push "+string(rune('A'+i)))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, resp.EventID)
	}
	count := func(ev id.EventID) int { mu.Lock(); defer mu.Unlock(); return seen[string(ev)] }
	deadline := time.Now().Add(30 * time.Second)
	for _, ev := range sent {
		for count(ev) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no push for %s", ev)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A last message, pushed after the others were handled, gives a second
	// push of any of them time to arrive.
	last, err := alice.SendText(ctx, roomID, "Push Ende")
	if err != nil {
		t.Fatal(err)
	}
	for count(last.EventID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no push for the last message")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, ev := range sent {
		if n := count(ev); n != 1 {
			t.Errorf("%s pushed %d times", ev, n)
		}
	}
}
