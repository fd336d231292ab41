package app_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// toDeviceBodies is what a sync response carries to the device, by body.
func toDeviceBodies(resp *mautrix.RespSync) []string {
	var out []string
	for _, ev := range resp.ToDevice.Events {
		body, _ := ev.Content.Raw["body"].(string)
		out = append(out, body)
	}
	return out
}

func sendToDevice(t testing.TB, from *mautrix.Client, txnID string, messages map[string]map[string]any) {
	t.Helper()
	path := "/sendToDevice/de.bund.test/" + url.PathEscape(txnID)
	if status, body := rawCall(t, from, "PUT", path, map[string]any{"messages": messages}); status != 200 {
		t.Fatalf("sendToDevice: %d %v", status, body)
	}
}

func TestToDeviceMessages(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	phone := loginAgain(t, srv, alice, "PHONE")
	laptop := alice
	msg := func(body string) map[string]any { return map[string]any{"body": body} }

	sendToDevice(t, bob, "t1", map[string]map[string]any{alice.UserID.String(): {laptop.DeviceID.String(): msg("nur Laptop")}})
	sendToDevice(t, bob, "t2", map[string]map[string]any{alice.UserID.String(): {"*": msg("alle")}})
	sendToDevice(t, bob, "t2", map[string]map[string]any{alice.UserID.String(): {"*": msg("alle")}}) // retried: no copy
	sendToDevice(t, bob, "t3", map[string]map[string]any{alice.UserID.String(): {"NOSUCHDEVICE": msg("niemand")}})

	first, err := laptop.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := toDeviceBodies(first); len(got) != 2 || got[0] != "nur Laptop" || got[1] != "alle" {
		t.Fatalf("laptop received %v", got)
	}
	if ev := first.ToDevice.Events[0]; ev.Sender != bob.UserID || ev.Type.Type != "de.bund.test" {
		t.Fatalf("to-device event %+v", ev)
	}
	if got, err := phone.SyncRequest(ctx, 0, "", "", false, ""); err != nil || len(toDeviceBodies(got)) != 1 {
		t.Fatalf("phone received %v (%v)", toDeviceBodies(got), err)
	}
	// Not acknowledged yet: a fresh sync brings them again.
	again, err := laptop.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil || len(toDeviceBodies(again)) != 2 {
		t.Fatalf("unacknowledged messages were not delivered again: %v (%v)", toDeviceBodies(again), err)
	}
	// Syncing from the token acknowledges them.
	next, err := laptop.SyncRequest(ctx, 0, again.NextBatch, "", false, "")
	if err != nil || len(toDeviceBodies(next)) != 0 {
		t.Fatalf("acknowledged messages came again: %v (%v)", toDeviceBodies(next), err)
	}
	// A waiting sync wakes for a new message.
	done := make(chan *mautrix.RespSync, 1)
	go func() {
		resp, err := laptop.SyncRequest(ctx, 20000, next.NextBatch, "", false, "")
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	time.Sleep(200 * time.Millisecond)
	sendToDevice(t, bob, "t4", map[string]map[string]any{alice.UserID.String(): {laptop.DeviceID.String(): msg("wach auf")}})
	select {
	case resp := <-done:
		if got := toDeviceBodies(resp); len(got) != 1 || got[0] != "wach auf" {
			t.Fatalf("woken with %v", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the long-poll did not wake for a to-device message")
	}
	// Bad input.
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"no messages", map[string]any{}},
		{"content not an object", map[string]any{"messages": map[string]any{alice.UserID.String(): map[string]any{"X": "text"}}}},
		{"bad user id", map[string]any{"messages": map[string]any{"alice": map[string]any{"X": map[string]any{}}}}},
	} {
		if status, _ := rawCall(t, bob, "PUT", "/sendToDevice/x/bad-"+url.PathEscape(tc.name), tc.body); status != 400 {
			t.Errorf("%s: %d, want 400", tc.name, status)
		}
	}
}

// Messages wait through restarts until the device acknowledges them: one
// delivered but not acknowledged before a restart comes again after it,
// one acknowledged stays gone.
func TestToDeviceSurvivesRestart(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	sendToDevice(t, bob, "r1", map[string]map[string]any{alice.UserID.String(): {alice.DeviceID.String(): map[string]any{"body": "nach dem Neustart"}}})
	srv.Restart(t)
	first, err := alice.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := toDeviceBodies(first); len(got) != 1 || got[0] != "nach dem Neustart" {
		t.Fatalf("after the restart: %v", got)
	}
	srv.Restart(t)
	again, err := alice.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := toDeviceBodies(again); len(got) != 1 || got[0] != "nach dem Neustart" {
		t.Fatalf("delivered, not acknowledged, restarted: %v", got)
	}
	// The client lost the first response and syncs from the second.
	acked, err := alice.SyncRequest(ctx, 0, again.NextBatch, "", false, "")
	if err != nil || len(acked.ToDevice.Events) != 0 {
		t.Fatalf("acknowledged: %v (%v)", toDeviceBodies(acked), err)
	}
	srv.Restart(t)
	later, err := alice.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil || len(later.ToDevice.Events) != 0 {
		t.Fatalf("an acknowledged message came back after a restart: %v (%v)", toDeviceBodies(later), err)
	}
	// Positions go on from where they were: a new message is new to the
	// token from before the restart.
	sendToDevice(t, bob, "r2", map[string]map[string]any{alice.UserID.String(): {alice.DeviceID.String(): map[string]any{"body": "neu"}}})
	next, err := alice.SyncRequest(ctx, 0, acked.NextBatch, "", false, "")
	if got := toDeviceBodies(next); err != nil || len(got) != 1 || got[0] != "neu" {
		t.Fatalf("a message after the restart: %v (%v)", got, err)
	}
}

// Messages go to devices that exist: a deleted device's inbox goes with
// it, and a device that logs in later under an id that did not exist when
// a message was sent does not get it.
func TestToDeviceOnlyForExistingDevices(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	to := func(device, body string) map[string]map[string]any {
		return map[string]map[string]any{alice.UserID.String(): {device: map[string]any{"body": body}}}
	}
	sendToDevice(t, bob, "n1", to("NOCHNICHT", "zu früh"))
	if got := toDeviceBodies(mustSync(t, loginAgain(t, srv, alice, "NOCHNICHT"), "")); len(got) != 0 {
		t.Fatalf("a device logged in after the message was sent got %v", got)
	}
	tablet := loginAgain(t, srv, alice, "TABLET")
	sendToDevice(t, bob, "n2", to("TABLET", "verwaist"))
	if _, err := tablet.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	tablet = loginAgain(t, srv, alice, "TABLET")
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := toDeviceBodies(mustSync(t, tablet, ""))
		if len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a deleted device's inbox survived: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Logging in again under the same id keeps the device, and its inbox.
	loginAgain(t, srv, alice, "PHONE")
	sendToDevice(t, bob, "n3", to("PHONE", "bleibt"))
	phone := loginAgain(t, srv, alice, "PHONE")
	if got := toDeviceBodies(mustSync(t, phone, "")); len(got) != 1 || got[0] != "bleibt" {
		t.Fatalf("after logging in again with the same device id: %v", got)
	}
	// A device named by itself and through "*" gets its own message once.
	sendToDevice(t, bob, "n4", map[string]map[string]any{alice.UserID.String(): {"*": map[string]any{"body": "alle"}, "PHONE": map[string]any{"body": "nur PHONE"}}})
	if got := toDeviceBodies(mustSync(t, phone, "")); len(got) != 2 || got[1] != "nur PHONE" {
		t.Fatalf("named and *: %v", got)
	}
	if got := toDeviceBodies(mustSync(t, tablet, "")); len(got) != 1 || got[0] != "alle" {
		t.Fatalf("* for the others: %v", got)
	}
	// Users of other servers are left out without failing the request.
	sendToDevice(t, bob, "n5", map[string]map[string]any{"@jemand:anderswo.example": {"*": map[string]any{"body": "fern"}}})
}

// A sync carries at most 100 messages; its token points at the last one
// it carried, so the next sync brings the rest, in order.
func TestToDeviceBatches(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	const n = 150
	for i := range n {
		sendToDevice(t, bob, fmt.Sprint("b", i), map[string]map[string]any{alice.UserID.String(): {alice.DeviceID.String(): map[string]any{"body": fmt.Sprint(i)}}})
	}
	var got []string
	since := ""
	for _, want := range []int{100, 50, 0} {
		resp := mustSync(t, alice, since)
		if len(resp.ToDevice.Events) != want {
			t.Fatalf("a sync from %q carried %d messages, want %d", since, len(resp.ToDevice.Events), want)
		}
		got = append(got, toDeviceBodies(resp)...)
		since = resp.NextBatch
	}
	for i, body := range got {
		if body != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: out of order", i, body)
		}
	}
}

func mustSync(t *testing.T, cli *mautrix.Client, since string) *mautrix.RespSync {
	t.Helper()
	resp, err := cli.SyncRequest(context.Background(), 0, since, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// loginAgain logs cli's user in on another device.
func loginAgain(t *testing.T, srv *apptest.Server, cli *mautrix.Client, deviceID string) *mautrix.Client {
	t.Helper()
	other, err := mautrix.NewClient(srv.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := other.Login(context.Background(), &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: cli.UserID.String()},
		Password:   "correct horse battery staple", DeviceID: id.DeviceID(deviceID), StoreCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp
	return other
}
