package userapi

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzCheckPusher: any body that decodes is accepted or refused with one
// of the two errors the client API maps to the spec's codes, never a
// panic; what is accepted has a gateway URL with the notify path.
func FuzzCheckPusher(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"http","app_id":"a","pushkey":"k","app_display_name":"A","device_display_name":"D","lang":"de","data":{"url":"https://gw/_matrix/push/v1/notify"}}`,
		`{"kind":null,"app_id":"a","pushkey":"k"}`,
		`{"kind":"email","app_id":"m.email","pushkey":"a@b.de"}`,
		`{"kind":"http","app_id":"a","pushkey":"k","app_display_name":"A","device_display_name":"D","lang":"de","data":{"url":"gopher://x"}}`,
		`{"kind":"http","app_id":"a","pushkey":"k","app_display_name":"A","device_display_name":"D","lang":"de","data":[]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req PusherSet
		if json.Unmarshal(body, &req) != nil {
			return
		}
		err := checkPusher(req)
		if err != nil && !errors.Is(err, ErrBadPusher) && !errors.Is(err, ErrMissingPusherParam) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
