package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/mediaapi"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// pngOf is a small PNG, different for each seed.
func pngOf(t *testing.T, seed uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := 0; x < 40; x++ {
		for y := 0; y < 30; y++ {
			img.Set(x, y, color.RGBA{R: seed, G: uint8(x * 6), B: uint8(y * 8), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mediaStatuses are the statuses of every way the media reaches someone:
// authenticated and unauthenticated downloads and thumbnails, and the
// federation API's read of it.
type mediaStatuses struct {
	srv   *apptest.Server
	token string
}

func (m mediaStatuses) get(t *testing.T, path string, auth bool) int {
	t.Helper()
	req, _ := http.NewRequest("GET", m.srv.URL+path, nil)
	if auth {
		req.Header.Set("Authorization", "Bearer "+m.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// all lists "route=status" of every route for uri.
func (m mediaStatuses) all(t *testing.T, uri id.ContentURI) string {
	t.Helper()
	p := uri.Homeserver + "/" + uri.FileID
	thumb := "?width=32&height=32&method=scale"
	out := []string{
		fmt.Sprintf("download=%d", m.get(t, "/_matrix/client/v1/media/download/"+p, true)),
		fmt.Sprintf("thumbnail=%d", m.get(t, "/_matrix/client/v1/media/thumbnail/"+p+thumb, true)),
		fmt.Sprintf("legacy_download=%d", m.get(t, "/_matrix/media/v3/download/"+p, false)),
		fmt.Sprintf("legacy_thumbnail=%d", m.get(t, "/_matrix/media/v3/thumbnail/"+p+thumb, false)),
	}
	fed := 200
	_, err := m.srv.App.Media.FederationMedia(context.Background(), mediaapi.FederationMediaRequest{
		ServerName: spec.ServerName(uri.Homeserver), MediaID: uri.FileID})
	var me *mxhttp.Error
	switch {
	case err == nil:
	case errors.As(err, &me):
		fed = me.Status
	default:
		fed = 500
	}
	return strings.Join(append(out, fmt.Sprintf("federation=%d", fed)), " ")
}

const (
	served     = "download=200 thumbnail=200 legacy_download=200 legacy_thumbnail=200 federation=200"
	not_served = "download=404 thumbnail=404 legacy_download=404 legacy_thumbnail=404 federation=404"
)

// The media admin API: info, quarantine (one item, a room's, a user's)
// checked through every way media is served, protection, deletions,
// listings and statistics.
func TestAdminAPIMedia(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.ServeUnauthenticatedMedia = true
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	admin := registerAdmin(t, srv, "mediaadmin")
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	st := mediaStatuses{srv: srv, token: bob.AccessToken}
	upload := func(cli *mautrix.Client, data []byte, name string) id.ContentURI {
		t.Helper()
		up, err := cli.UploadBytesWithName(ctx, data, "image/png", name)
		if err != nil {
			t.Fatal(err)
		}
		return up.ContentURI
	}
	pic := upload(alice, pngOf(t, 1), "eins.png")
	path := func(uri id.ContentURI) string { return uri.Homeserver + "/" + uri.FileID }

	t.Run("info", func(t *testing.T) {
		if status, body := adminCall(t, alice, "GET", "/v1/media/"+path(pic), nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("as a non-admin: %d %v", status, body)
		}
		status, body := adminCall(t, admin, "GET", "/v1/media/"+path(pic), nil)
		info, _ := body["media_info"].(map[string]any)
		if status != 200 || info["user_id"] != alice.UserID.String() || info["media_type"] != "image/png" ||
			info["upload_name"] != "eins.png" || info["quarantined_by"] != nil || info["safe_from_quarantine"] != false {
			t.Fatalf("%d %v", status, body)
		}
		for _, tc := range []struct {
			name, path string
			status     int
			code       string
		}{
			{"unknown media", "/v1/media/localhost/nosuchmedia", 404, "M_NOT_FOUND"},
			{"bad media id", "/v1/media/localhost/b%C3%A4d", 400, "M_INVALID_PARAM"},
		} {
			if status, body := adminCall(t, admin, "GET", tc.path, nil); status != tc.status || body["errcode"] != tc.code {
				t.Errorf("%s: %d %v", tc.name, status, body)
			}
		}
	})

	t.Run("quarantine one item", func(t *testing.T) {
		if got := st.all(t, pic); got != served {
			t.Fatalf("before: %s", got)
		}
		if status, body := adminCall(t, admin, "POST", "/v1/media/quarantine/"+path(pic), map[string]any{}); status != 200 {
			t.Fatalf("quarantine: %d %v", status, body)
		}
		if got := st.all(t, pic); got != not_served {
			t.Fatalf("quarantined: %s", got)
		}
		// The same bytes under a new media id stay quarantined.
		copyOf := upload(bob, pngOf(t, 1), "kopie.png")
		if got := st.all(t, copyOf); got != not_served {
			t.Fatalf("a new upload of quarantined content: %s", got)
		}
		_, body := adminCall(t, admin, "GET", "/v1/media/"+path(pic), nil)
		if info, _ := body["media_info"].(map[string]any); info["quarantined_by"] != admin.UserID.String() {
			t.Fatalf("info: %v", body)
		}
		for _, uri := range []id.ContentURI{pic, copyOf} {
			if status, body := adminCall(t, admin, "POST", "/v1/media/unquarantine/"+path(uri), nil); status != 200 {
				t.Fatalf("unquarantine: %d %v", status, body)
			}
		}
		if got := st.all(t, pic); got != served {
			t.Fatalf("unquarantined: %s", got)
		}
		if status, body := adminCall(t, admin, "POST", "/v1/media/unquarantine/localhost/nosuchmedia", nil); status != 404 {
			t.Fatalf("unquarantine unknown: %d %v", status, body)
		}
	})

	t.Run("protected media is not quarantined", func(t *testing.T) {
		sticker := upload(alice, pngOf(t, 2), "sticker.png")
		if status, body := adminCall(t, admin, "POST", "/v1/media/protect/"+sticker.FileID, nil); status != 200 {
			t.Fatalf("protect: %d %v", status, body)
		}
		adminCall(t, admin, "POST", "/v1/media/quarantine/"+path(sticker), nil)
		status, body := adminCall(t, admin, "POST", "/v1/user/"+alice.UserID.String()+"/media/quarantine", nil)
		if got := st.all(t, sticker); got != served || status != 200 {
			t.Fatalf("protected media after quarantines: %s (%d %v)", got, status, body)
		}
		if got := st.all(t, pic); got != not_served {
			t.Fatalf("alice's other upload after quarantining hers: %s", got)
		}
		if n, _ := body["num_quarantined"].(float64); n < 1 {
			t.Fatalf("num_quarantined: %v", body)
		}
		if status, _ := adminCall(t, admin, "POST", "/v1/media/unprotect/"+sticker.FileID, nil); status != 200 {
			t.Fatal("unprotect", status)
		}
		adminCall(t, admin, "POST", "/v1/media/quarantine/"+path(sticker), nil)
		if got := st.all(t, sticker); got != not_served {
			t.Fatalf("unprotected media after a quarantine: %s", got)
		}
		if status, _ := adminCall(t, admin, "POST", "/v1/media/protect/nosuchmedia", nil); status != 404 {
			t.Fatal("protect unknown media:", status)
		}
	})

	t.Run("a room's media", func(t *testing.T) {
		room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}
		inRoom := upload(alice, pngOf(t, 3), "raum.png")
		if _, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgImage, Body: "raum.png", URL: inRoom.CUString()}); err != nil {
			t.Fatal(err)
		}
		status, body := adminCall(t, admin, "GET", "/v1/room/"+room.RoomID.String()+"/media", nil)
		if local, _ := body["local"].([]any); status != 200 || len(local) != 1 || local[0] != inRoom.String() {
			t.Fatalf("room media: %d %v", status, body)
		}
		status, body = adminCall(t, admin, "POST", "/v1/room/"+room.RoomID.String()+"/media/quarantine", nil)
		if status != 200 || body["num_quarantined"] != float64(1) {
			t.Fatalf("quarantine the room's: %d %v", status, body)
		}
		if got := st.all(t, inRoom); got != not_served {
			t.Fatalf("the room's media: %s", got)
		}
		if status, body := adminCall(t, admin, "GET", "/v1/room/!nosuchroom:localhost/media", nil); status != 404 || body["errcode"] != "M_NOT_FOUND" {
			t.Fatalf("unknown room: %d %v", status, body)
		}
	})

	t.Run("a user's media", func(t *testing.T) {
		u := "/v1/users/" + alice.UserID.String() + "/media"
		status, body := adminCall(t, admin, "GET", u+"?limit=2&order_by=upload_name&dir=b", nil)
		media, _ := body["media"].([]any)
		if status != 200 || body["total"] != float64(3) || len(media) != 2 || body["next_token"] != float64(2) {
			t.Fatalf("%d %v", status, body)
		}
		if first, _ := media[0].(map[string]any); first["upload_name"] != "sticker.png" {
			t.Fatalf("order: %v", media)
		}
		for _, tc := range []struct {
			name, path string
			status     int
			code       string
		}{
			{"bad order", u + "?order_by=colour", 400, "M_INVALID_PARAM"},
			{"negative from", u + "?from=-1", 400, "M_INVALID_PARAM"},
			{"unknown user", "/v1/users/@nobody:localhost/media", 404, "M_NOT_FOUND"},
		} {
			if status, body := adminCall(t, admin, "GET", tc.path, nil); status != tc.status || body["errcode"] != tc.code {
				t.Errorf("%s: %d %v", tc.name, status, body)
			}
		}
		status, body = adminCall(t, admin, "GET", "/v1/statistics/users/media?order_by=media_count&dir=b", nil)
		users, _ := body["users"].([]any)
		if status != 200 || len(users) != 2 {
			t.Fatalf("statistics: %d %v", status, body)
		}
		if top, _ := users[0].(map[string]any); top["user_id"] != alice.UserID.String() || top["media_count"] != float64(3) {
			t.Fatalf("statistics: %v", users)
		}
	})

	t.Run("deletions", func(t *testing.T) {
		gone := upload(bob, pngOf(t, 4), "weg.png")
		status, body := adminCall(t, admin, "DELETE", "/v1/media/"+path(gone), nil)
		if status != 200 || body["total"] != float64(1) {
			t.Fatalf("delete: %d %v", status, body)
		}
		if got := st.all(t, gone); got != not_served {
			t.Fatalf("deleted: %s", got)
		}
		if status, _ := adminCall(t, admin, "DELETE", "/v1/media/"+path(gone), nil); status != 404 {
			t.Fatal("delete again:", status)
		}
		avatar := upload(bob, pngOf(t, 5), "avatar.png")
		if err := bob.SetAvatarURL(ctx, avatar); err != nil {
			t.Fatal(err)
		}
		old := upload(bob, pngOf(t, 6), "alt.png")
		if status, body := adminCall(t, admin, "POST", "/v1/media/delete", nil); status != 400 || body["errcode"] != "M_MISSING_PARAM" {
			t.Fatalf("without before_ts: %d %v", status, body)
		}
		before := fmt.Sprint(time.Now().Add(time.Minute).UnixMilli())
		status, body = adminCall(t, admin, "POST", "/v1/media/delete?before_ts="+before, nil)
		deleted := fmt.Sprint(body["deleted_media"])
		if status != 200 || !strings.Contains(deleted, old.FileID) || strings.Contains(deleted, avatar.FileID) {
			t.Fatalf("delete old: %d %v", status, body)
		}
		if st.all(t, old) != not_served || st.all(t, avatar) != served {
			t.Fatalf("after deleting old media: old %s, avatar %s", st.all(t, old), st.all(t, avatar))
		}
		// Quarantined media stays (its content stays quarantined).
		if st.all(t, pic) != not_served {
			t.Fatal("quarantined media was deleted")
		}
		status, body = adminCall(t, admin, "POST", "/v1/purge_media_cache?before_ts="+before, nil)
		if status != 200 || body["deleted"] != float64(0) {
			t.Fatalf("purge_media_cache: %d %v", status, body)
		}
		status, body = adminCall(t, admin, "DELETE", "/v1/users/"+bob.UserID.String()+"/media", nil)
		if status != 200 || body["total"] != float64(2) {
			t.Fatalf("delete bob's media: %d %v", status, body)
		}
		if st.all(t, avatar) != not_served {
			t.Fatal("bob's avatar after deleting his media")
		}
	})

	t.Run("audited", func(t *testing.T) {
		status, body := adminCall(t, admin, "GET", "/v1/audit_log?action=media.quarantine&target=mxc://"+path(pic), nil)
		if status != 200 || body["total"] != float64(1) {
			t.Fatalf("%d %v", status, body)
		}
	})
}

// With serve_unauthenticated_media off, the unauthenticated media URLs
// serve admins only (synapse-admin loads avatars through them).
func TestAdminLegacyMediaForAdmins(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	admin := registerAdmin(t, srv, "legacyadmin")
	alice := srv.Register(t, "alice")
	up, err := alice.UploadBytesWithName(ctx, pngOf(t, 7), "image/png", "avatar.png")
	if err != nil {
		t.Fatal(err)
	}
	p := up.ContentURI.Homeserver + "/" + up.ContentURI.FileID
	for _, tc := range []struct {
		name, path, header string
		status             int
	}{
		{"download without a token", "/_matrix/media/v3/download/" + p, "", 404},
		{"download with a user's token", "/_matrix/media/v3/download/" + p, alice.AccessToken, 404},
		{"download with a bad token", "/_matrix/media/v3/download/" + p, "nonsense", 404},
		{"download with an admin's token", "/_matrix/media/v3/download/" + p, admin.AccessToken, 200},
		{"download with an admin's token as parameter", "/_matrix/media/v3/download/" + p + "?access_token=" + admin.AccessToken, "", 200},
		{"thumbnail with an admin's token", "/_matrix/media/v3/thumbnail/" + p + "?width=32&height=32", admin.AccessToken, 200},
		{"thumbnail with a user's token", "/_matrix/media/v3/thumbnail/" + p + "?width=32&height=32", alice.AccessToken, 404},
		{"r0 download with an admin's token", "/_matrix/media/r0/download/" + p, admin.AccessToken, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := mediaStatuses{srv: srv, token: tc.header}
			if got := st.get(t, tc.path, tc.header != ""); got != tc.status {
				t.Fatalf("%d, want %d", got, tc.status)
			}
		})
	}
}
