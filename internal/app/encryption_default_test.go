package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

func TestEncryptionEnabledByDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		setting, preset, visibility string
		want                        bool
	}{
		{"off", "private_chat", "", false},
		{"all", "public_chat", "public", true},
		{"all", "private_chat", "", true},
		{"invite", "private_chat", "", true},
		{"invite", "trusted_private_chat", "", true},
		{"invite", "public_chat", "public", false},
		{"invite", "", "public", false},
		{"invite", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.setting+"/"+tc.preset+"/"+tc.visibility, func(t *testing.T) {
			cfg := apptest.Config(t.TempDir())
			cfg.EncryptionByDefault = tc.setting
			srv := apptest.StartWith(t, cfg)
			alice := srv.Register(t, "alice")
			ctx := context.Background()
			room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: tc.preset, Visibility: tc.visibility})
			if err != nil {
				t.Fatal(err)
			}
			var content map[string]any
			err = alice.StateEvent(ctx, room.RoomID, event.StateEncryption, "", &content)
			if got := err == nil && content["algorithm"] == "m.megolm.v1.aes-sha2"; got != tc.want {
				t.Fatalf("encrypted = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}
