package userapi

import (
	"context"
	"encoding/json"
	"testing"
)

// Every m.device_list_update names its predecessors in prev_id: the
// previous change of the user's devices, or none (an empty list, which
// some servers expect rather than a missing key) for the first.
func TestDeviceListUpdatesCarryPrevID(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := uid(t, "@alice:test")
	sess, err := s.Register(ctx, RegisterRequest{User: alice, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	upload := func(device string) {
		t.Helper()
		keys, _ := json.Marshal(map[string]any{"user_id": alice.String(), "device_id": device,
			"algorithms": []string{"m.olm.v1.curve25519-aes-sha2"}, "keys": map[string]string{"ed25519:" + device: "k-" + device}})
		if _, err := s.UploadKeys(ctx, KeyUploadRequest{User: alice, DeviceID: device, DeviceKeys: keys}); err != nil {
			t.Fatal(err)
		}
	}
	upload(sess.DeviceID)
	second, err := s.LoginPassword(ctx, LoginRequest{User: alice, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	upload(second.DeviceID)
	out, err := s.PendingDeviceListUpdates(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var prev []int64
	var seen int
	for _, u := range out.Updates {
		if u.Type != MDeviceListUpdate {
			continue
		}
		var c map[string]json.RawMessage
		if err := json.Unmarshal(u.Content, &c); err != nil {
			t.Fatal(err)
		}
		raw, ok := c["prev_id"]
		if !ok {
			t.Fatalf("update without prev_id: %s", u.Content)
		}
		var ids []int64
		if err := json.Unmarshal(raw, &ids); err != nil {
			t.Fatalf("prev_id %s: %v", raw, err)
		}
		if seen > 0 && (len(ids) != 1 || ids[0] != prev[0]) {
			t.Fatalf("update %d: prev_id %v, want the stream_id before it, %v", seen, ids, prev)
		}
		var stream int64
		_ = json.Unmarshal(c["stream_id"], &stream)
		prev = []int64{stream}
		seen++
	}
	if seen < 2 {
		t.Fatalf("%d device list updates, want at least 2", seen)
	}
}
