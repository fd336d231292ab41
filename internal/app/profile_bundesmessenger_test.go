package app_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
)

// TestBundesMessengerProfileThroughTheAPI: a server started from a
// config file with profile: bundesmessenger (and open registration
// switched back on for the test, which the file may do) behaves as the
// profile says, seen by a client.
func TestBundesMessengerProfileThroughTheAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	raw := `profile: bundesmessenger
server_name: localhost
bundesmessenger:
  data_privacy_url: https://agency.example/datenschutz
  imprint_url: https://agency.example/impressum
enable_registration: true
enable_registration_without_verification: true
`
	cfg, _, err := config.Parse([]byte(raw), dir)
	if err != nil {
		t.Fatal(err)
	}
	base := apptest.Config(dir)
	cfg.DataDir, cfg.Database, cfg.RegistrationSharedSecret = base.DataDir, base.Database, base.RegistrationSharedSecret
	cfg.RateLimiting.Enabled = false
	cfg.Finish()
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()

	cli, _ := mautrix.NewClient(srv.URL, "", "")
	if _, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister{Username: "weak", Password: "correct horse battery staple"}); !isErrcode(err, "M_WEAK_PASSWORD") {
		t.Fatalf("weak password: %v, want M_WEAK_PASSWORD", err)
	}
	resp, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister{Username: "anna", Password: "Dienst-Passwort-2026"})
	if err != nil {
		t.Fatal(err)
	}
	cli.UserID, cli.AccessToken, cli.DeviceID = resp.UserID, resp.AccessToken, resp.DeviceID

	if err := cli.SetDisplayName(ctx, "Anna Neu"); !isErrcode(err, "M_FORBIDDEN") {
		t.Fatalf("displayname change: %v, want M_FORBIDDEN", err)
	}
	_, caps := rawCall(t, cli, "GET", "/capabilities", nil)
	if gjsonOf(caps).Get("capabilities.m\\.set_displayname.enabled").Bool() || gjsonOf(caps).Get("capabilities.m\\.set_avatar_url.enabled").Bool() {
		t.Fatalf("capabilities: %v", caps)
	}
	anon, _ := mautrix.NewClient(srv.URL, "", "")
	if status, _ := rawCall(t, anon, "GET", "/profile/"+cli.UserID.String(), nil); status != http.StatusUnauthorized {
		t.Fatalf("profile without a token: %d", status)
	}
	status, wk := getJSON(t, srv.URL+"/.well-known/matrix/client")
	if status != 200 || !strings.Contains(wk, `"de.bwi":{"data_privacy_url":"https://agency.example/datenschutz","imprint_url":"https://agency.example/impressum"}`) ||
		!strings.Contains(wk, `"secure_backup_required":true`) {
		t.Fatalf("well-known: %d %s", status, wk)
	}
	room, err := cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	var enc event.EncryptionEventContent
	if err := cli.StateEvent(ctx, room.RoomID, event.StateEncryption, "", &enc); err != nil || enc.Algorithm == "" {
		t.Fatalf("new room not encrypted: %v %+v", err, enc)
	}
	if status, body := rawCall(t, cli, "GET", "/presence/"+cli.UserID.String()+"/status", nil); status == 200 && body["presence"] == "online" {
		t.Fatalf("presence is on: %v", body)
	}
}

func isErrcode(err error, code string) bool {
	var he mautrix.HTTPError
	return errors.As(err, &he) && he.RespError != nil && he.RespError.ErrCode == code
}
