package userapi

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkQueryKeys is a client asking for the keys of every member of a
// 200-member room, each with two devices: what Element does before it
// first encrypts there.
func BenchmarkQueryKeys(b *testing.B) {
	s := newTestServer(b)
	ctx := context.Background()
	users := map[string][]string{}
	for i := range 200 {
		user := uid(b, fmt.Sprintf("@member%d:test", i))
		for _, d := range []string{"PHONE", "LAPTOP"} {
			if d == "PHONE" {
				if _, err := s.Register(ctx, RegisterRequest{User: user, Password: "pw", DeviceID: d, DeviceDisplayName: "Diensthandy"}); err != nil {
					b.Fatal(err)
				}
			} else if _, err := s.LoginPassword(ctx, LoginRequest{User: user, Password: "pw", DeviceID: d}); err != nil {
				b.Fatal(err)
			}
			keys, _ := json.Marshal(map[string]any{"user_id": user.String(), "device_id": d, "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
				"keys": map[string]string{"ed25519:" + d: "AAAA", "curve25519:" + d: "BBBB"}, "signatures": map[string]any{}})
			if _, err := s.UploadKeys(ctx, KeyUploadRequest{User: user, DeviceID: d, DeviceKeys: keys}); err != nil {
				b.Fatal(err)
			}
		}
		users[user.String()] = nil
	}
	requester := uid(b, "@member0:test")
	b.ResetTimer()
	for range b.N {
		res, err := s.QueryKeys(ctx, requester, users)
		if err != nil || len(res.DeviceKeys) != 200 {
			b.Fatalf("%d users, %v", len(res.DeviceKeys), err)
		}
	}
}
