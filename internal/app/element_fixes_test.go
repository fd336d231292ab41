package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
)

// Element Web sets up cross-signing only when /versions advertises
// org.matrix.e2e_cross_signing (issue 12).
func TestVersionsAdvertiseCrossSigning(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	v, err := alice.Versions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !v.UnstableFeatures["org.matrix.e2e_cross_signing"] {
		t.Fatalf("unstable features %v lack org.matrix.e2e_cross_signing", v.UnstableFeatures)
	}
}

// Without a TURN server, /voip/turnServer answers 200 {} as other servers
// do: Element logs a 404 as an error (issue 12).
func TestTURNServerNotConfiguredIsEmpty(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	status, body := rawCall(t, alice, "GET", "/voip/turnServer", nil)
	if status != 200 || len(body) != 0 {
		t.Fatalf("got %d %v, want 200 {}", status, body)
	}
}

// Invites made through createRoom's invite list carry the invitee's
// profile, as /invite's do (issue 12): Element shows the name, not the id.
func TestCreateRoomInviteCarriesProfile(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	if err := bob.SetDisplayName(ctx, "Bob Beispiel"); err != nil {
		t.Fatal(err)
	}
	avatar := id.ContentURI{Homeserver: "example.org", FileID: "bobface"}
	if err := bob.SetAvatarURL(ctx, avatar); err != nil {
		t.Fatal(err)
	}
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	var member event.MemberEventContent
	if err := alice.StateEvent(ctx, room.RoomID, event.StateMember, bob.UserID.String(), &member); err != nil {
		t.Fatal(err)
	}
	if member.Membership != event.MembershipInvite || member.Displayname != "Bob Beispiel" || member.AvatarURL != avatar.CUString() {
		t.Fatalf("invite content %+v, want membership invite with bob's display name and avatar", member)
	}
}

// GET /.well-known/matrix/support serves the configured contacts and
// support page, and 404 M_NOT_FOUND when none are configured (spec v1.10).
func TestWellKnownSupport(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, url string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(url + "/.well-known/matrix/support")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	t.Run("not configured", func(t *testing.T) {
		srv := apptest.Start(t)
		if status, body := get(t, srv.URL); status != 404 || body["errcode"] != "M_NOT_FOUND" {
			t.Fatalf("got %d %v, want 404 M_NOT_FOUND", status, body)
		}
	})
	t.Run("configured", func(t *testing.T) {
		cfg := apptest.Config(t.TempDir())
		cfg.WellKnown.Support = config.Support{
			Contacts: []config.SupportContact{
				{MatrixID: "@admin:bund.example", EmailAddress: "admin@bund.example", Role: "m.role.admin"},
				{EmailAddress: "security@bund.example", Role: "m.role.security"},
			},
			SupportPage: "https://bund.example/hilfe",
		}
		srv := apptest.StartWith(t, cfg)
		status, body := get(t, srv.URL)
		want := map[string]any{
			"contacts": []any{
				map[string]any{"matrix_id": "@admin:bund.example", "email_address": "admin@bund.example", "role": "m.role.admin"},
				map[string]any{"email_address": "security@bund.example", "role": "m.role.security"},
			},
			"support_page": "https://bund.example/hilfe",
		}
		got, _ := json.Marshal(body)
		wantJSON, _ := json.Marshal(want)
		if status != 200 || string(got) != string(wantJSON) {
			t.Fatalf("got %d %s, want 200 %s", status, got, wantJSON)
		}
	})
}
