package app_test

import (
	"context"
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

// Messages wait through a restart until the device fetches them; a
// deleted device's inbox goes with it.
func TestToDeviceSurvivesRestartAndDeviceDeletion(t *testing.T) {
	cfg := apptest.Config(t.TempDir())
	srv := apptest.StartWith(t, cfg)
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	sendToDevice(t, bob, "r1", map[string]map[string]any{alice.UserID.String(): {alice.DeviceID.String(): map[string]any{"body": "nach dem Neustart"}}})
	srv.Restart(t)
	resp, err := alice.SyncRequest(context.Background(), 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := toDeviceBodies(resp); len(got) != 1 || got[0] != "nach dem Neustart" {
		t.Fatalf("after the restart: %v", got)
	}
	// A device that is deleted and logged in again starts empty.
	sendToDevice(t, bob, "r2", map[string]map[string]any{alice.UserID.String(): {"TABLET": map[string]any{"body": "verwaist"}}})
	tablet := loginAgain(t, srv, alice, "TABLET")
	if _, err := tablet.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	tablet = loginAgain(t, srv, alice, "TABLET")
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := tablet.SyncRequest(context.Background(), 0, "", "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ToDevice.Events) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a deleted device's inbox survived: %v", toDeviceBodies(resp))
		}
		time.Sleep(50 * time.Millisecond)
	}
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
