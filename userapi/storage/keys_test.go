package storage

import (
	"context"
	"testing"
)

// One-time keys go out in the order they were uploaded, whatever their
// ids (base64 counters do not sort as strings); within one upload, in
// any order.
func TestClaimKeysInUploadOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		user := "@frank:test"
		upload := func(ids ...string) {
			keys := map[string][]byte{}
			for _, id := range ids {
				keys["signed_curve25519:"+id] = []byte(`{"key":"` + id + `"}`)
			}
			if _, err := s.UploadKeys(ctx, KeyUpload{UserID: user, DeviceID: "PHONE", OneTimeKeys: keys, FallbackKeys: map[string][]byte{}}); err != nil {
				t.Fatal(err)
			}
		}
		upload("AAAAAz")
		upload("AAAA0A", "AAAA0B")
		upload("AAAAAA")
		var got []string
		for range 5 {
			id, _, err := s.ClaimKey(ctx, user, "PHONE", "signed_curve25519")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		second := map[string]bool{got[1]: true, got[2]: true}
		if got[0] != "AAAAAz" || !second["AAAA0A"] || !second["AAAA0B"] || got[3] != "AAAAAA" || got[4] != "" {
			t.Errorf("claimed %v, want AAAAAz, then AAAA0A and AAAA0B, then AAAAAA, then none", got)
		}
	})
}

// A device that uploads new identity keys (its client reset its crypto
// store) gets them stored; its one-time and fallback keys of before go,
// and the change is a key change like any other.
func TestNewIdentityKeysReplaceTheOld(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		user := "@grete:test"
		first := []byte(`{"algorithms":["m.olm.v1.curve25519-aes-sha2"],"device_id":"LAPTOP","keys":{"curve25519:LAPTOP":"old"},"user_id":"@grete:test"}`)
		second := []byte(`{"algorithms":["m.olm.v1.curve25519-aes-sha2"],"device_id":"LAPTOP","keys":{"curve25519:LAPTOP":"new"},"user_id":"@grete:test"}`)
		pos1, err := s.UploadKeys(ctx, KeyUpload{UserID: user, DeviceID: "LAPTOP", DeviceKeys: first,
			OneTimeKeys: map[string][]byte{"signed_curve25519:A": []byte(`{"key":"a"}`)}, FallbackKeys: map[string][]byte{"signed_curve25519:F": []byte(`{"key":"f"}`)}})
		if err != nil || pos1 == 0 {
			t.Fatalf("first upload: %d, %v", pos1, err)
		}
		// The same keys again change nothing.
		if pos, err := s.UploadKeys(ctx, KeyUpload{UserID: user, DeviceID: "LAPTOP", DeviceKeys: first}); err != nil || pos != 0 {
			t.Fatalf("same keys again: %d, %v", pos, err)
		}
		pos2, err := s.UploadKeys(ctx, KeyUpload{UserID: user, DeviceID: "LAPTOP", DeviceKeys: second})
		if err != nil || pos2 <= pos1 {
			t.Fatalf("new identity keys: %d, %v (want a change after %d)", pos2, err, pos1)
		}
		keys, err := s.DeviceKeys(ctx, user, []string{"LAPTOP"})
		if err != nil || string(keys["LAPTOP"]) != string(second) {
			t.Fatalf("stored keys %s, %v", keys["LAPTOP"], err)
		}
		if id, _, err := s.ClaimKey(ctx, user, "LAPTOP", "signed_curve25519"); err != nil || id != "" {
			t.Errorf("claimed %q (%v) of the old keys, want none", id, err)
		}
	})
}
