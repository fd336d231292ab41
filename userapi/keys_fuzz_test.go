package userapi

import (
	"encoding/json"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// The key parsers take any JSON a client sends without panicking, and
// what they accept names the uploading user.
func FuzzKeyParsers(f *testing.F) {
	f.Add([]byte(`{"user_id":"@a:b","device_id":"D","algorithms":[],"keys":{"ed25519:D":"x"}}`))
	f.Add([]byte(`{"user_id":"@a:b","usage":["master"],"keys":{"ed25519:AAAA":"AAAA"}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"user_id":1}`))
	user, _ := spec.NewUserID("@a:b", true)
	s := &Server{}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if canonical, err := s.checkDeviceKeys(KeyUploadRequest{User: *user, DeviceID: "D", DeviceKeys: json.RawMessage(raw)}); err == nil {
			var v struct {
				UserID string `json:"user_id"`
			}
			if json.Unmarshal(canonical, &v) != nil || v.UserID != "@a:b" {
				t.Fatalf("accepted device keys of %q", v.UserID)
			}
		}
		for _, usage := range []string{"master", "self_signing", "user_signing"} {
			if k, err := parseCrossSigningKey("@a:b", usage, raw); err == nil && len(k.public) != 32 {
				t.Fatalf("accepted a %s key of %d bytes", usage, len(k.public))
			}
		}
	})
}
