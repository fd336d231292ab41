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
