package main

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix"
)

// toDeviceAcrossReplicas: a to-device message sent through syncapi-2
// wakes the recipient's long-poll on syncapi-1, and the acknowledgement
// made on one replica holds on the other.
func toDeviceAcrossReplicas(t *testing.T, d *deployment, alice, bob *mautrix.Client) {
	ctx := context.Background()
	bobOnSync1, bobOnSync2 := at(t, d.url(3), bob), at(t, d.url(4), bob)
	aliceOnSync2 := at(t, d.url(4), alice)
	first, err := bobOnSync1.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	// Whatever waited from earlier steps is acknowledged here.
	first, err = bobOnSync1.SyncRequest(ctx, 0, first.NextBatch, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *mautrix.RespSync, 1)
	go func() {
		resp, err := bobOnSync1.SyncRequest(ctx, 20000, first.NextBatch, "", false, "")
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	time.Sleep(300 * time.Millisecond)
	body := map[string]any{"messages": map[string]any{bob.UserID.String(): map[string]any{bob.DeviceID.String(): map[string]any{"body": "über syncapi-2"}}}}
	url := aliceOnSync2.BuildClientURL("v3", "sendToDevice", "de.bund.test", "replica-1")
	if _, err := aliceOnSync2.MakeRequest(ctx, "PUT", url, body, nil); err != nil {
		t.Fatal(err)
	}
	resp := <-done
	if resp == nil || len(resp.ToDevice.Events) != 1 || resp.ToDevice.Events[0].Content.Raw["body"] != "über syncapi-2" {
		t.Fatalf("the long-poll on syncapi-1 did not wake with the to-device message sent through syncapi-2: %+v", resp)
	}
	again, err := bobOnSync2.SyncRequest(ctx, 0, resp.NextBatch, "", false, "")
	if err != nil || len(again.ToDevice.Events) != 0 {
		t.Fatalf("acknowledged on syncapi-2, still delivered: %d events (%v)", len(again.ToDevice.Events), err)
	}
}
