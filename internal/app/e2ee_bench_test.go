package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// BenchmarkToDeviceRoundTrip measures one to-device message from the
// sender's request to its arrival in the recipient's /sync (and its
// acknowledgement by the next one).
func BenchmarkToDeviceRoundTrip(b *testing.B) {
	srv := apptest.Start(b)
	ctx := context.Background()
	alice, bob := srv.Register(b, "alice"), srv.Register(b, "bob")
	resp, err := alice.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		b.Fatal(err)
	}
	since := resp.NextBatch
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sendToDevice(b, bob, fmt.Sprintf("b%d", i), map[string]map[string]any{alice.UserID.String(): {alice.DeviceID.String(): map[string]any{"body": "x"}}})
		resp, err := alice.SyncRequest(ctx, 10000, since, "", false, "")
		if err != nil || len(resp.ToDevice.Events) != 1 {
			b.Fatalf("sync: %v, %d messages", err, len(resp.ToDevice.Events))
		}
		since = resp.NextBatch
	}
}

// BenchmarkKeysClaim measures claiming one one-time key.
func BenchmarkKeysClaim(b *testing.B) {
	srv := apptest.Start(b)
	alice, bob := srv.Register(b, "alice"), srv.Register(b, "bob")
	for uploaded := 0; uploaded < b.N; uploaded += 100 {
		otks := map[string]any{}
		for i := uploaded; i < uploaded+100; i++ {
			otks[fmt.Sprintf("signed_curve25519:K%08d", i)] = map[string]any{"key": "k"}
		}
		if status, _ := rawCall(b, alice, "POST", "/keys/upload", map[string]any{"one_time_keys": otks}); status != 200 {
			b.Fatal("upload failed")
		}
	}
	claim := map[string]any{"one_time_keys": map[string]any{alice.UserID.String(): map[string]any{alice.DeviceID.String(): "signed_curve25519"}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if status, _ := rawCall(b, bob, "POST", "/keys/claim", claim); status != 200 {
			b.Fatal("claim failed")
		}
	}
}
