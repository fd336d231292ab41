package app_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// exportOf calls the admin API's export of user as admin and returns
// the status and the body.
func exportOf(t *testing.T, srv *apptest.Server, admin *mautrix.Client, user string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/_synapse/admin/v1/users/"+esc(user)+"/export", nil)
	req.Header.Set("Authorization", "Bearer "+admin.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// unzip reads every file of an archive.
func unzip(t *testing.T, archive []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatalf("not a zip archive: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
	return files
}

func jsonFile(t *testing.T, files map[string][]byte, name string, v any) {
	t.Helper()
	raw, ok := files[name]
	if !ok {
		t.Fatalf("the archive has no %s (files: %v)", name, keysOf(files))
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, raw)
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestUserExport: the Art. 15 export of a user with messages, uploads,
// account data and a report, read back: every section parsed, the events
// byte for byte as stored, the uploads' bytes as uploaded. After a
// deactivation with erase, the export shows what is left and why.
func TestUserExport(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	admin := registerAdmin(t, srv, "exportadmin")
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	if err := alice.SetDisplayName(ctx, "Alice Amtsrätin"); err != nil {
		t.Fatal(err)
	}
	photo := testPNG(t, 16, 16)
	memo := []byte("Vermerk: Akte 4711 bitte bis Freitag zurück.")
	uploads := map[string][]byte{}
	for name, content := range map[string][]byte{"foto.png": photo, "vermerk.txt": memo} {
		up, err := alice.UploadBytesWithName(ctx, content, map[string]string{"foto.png": "image/png", "vermerk.txt": "text/plain"}[name], name)
		if err != nil {
			t.Fatal(err)
		}
		uploads[up.ContentURI.String()] = content
	}
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Referat 3"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	var sent []id.EventID
	for _, body := range []string{"Guten Morgen", "Die Akte liegt bei mir", "Bis später"} {
		resp, err := alice.SendText(ctx, room.RoomID, body)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, resp.EventID)
	}
	bobs, err := bob.SendText(ctx, room.RoomID, "Werbung!")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SetAccountData(ctx, "org.example.settings", map[string]any{"theme": "dunkel"}); err != nil {
		t.Fatal(err)
	}
	if status, body := rawCall(t, alice, "POST", "/rooms/"+room.RoomID.String()+"/report/"+bobs.EventID.String(), map[string]any{"reason": "Werbung"}); status != 200 {
		t.Fatalf("report: %d %v", status, body)
	}

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			cli    *mautrix.Client
			user   string
			status int
		}{
			{"not an admin", bob, alice.UserID.String(), 403},
			{"unknown user", admin, "@niemand:" + alice.UserID.Homeserver(), 404},
			{"remote user", admin, "@jemand:example.org", 400},
			{"not a user id", admin, "alice", 400},
		} {
			if status, _, body := exportOf(t, srv, tc.cli, tc.user); status != tc.status || !strings.Contains(string(body), "errcode") {
				t.Errorf("%s: %d %s, want %d with an errcode", tc.name, status, body, tc.status)
			}
		}
	})

	status, ctype, archive := exportOf(t, srv, admin, alice.UserID.String())
	if status != 200 || ctype != "application/zip" {
		t.Fatalf("export: %d %s %.200s", status, ctype, archive)
	}
	files := unzip(t, archive)

	var account struct {
		UserID      string `json:"user_id"`
		Deactivated bool   `json:"deactivated"`
	}
	jsonFile(t, files, "account.json", &account)
	if account.UserID != alice.UserID.String() || account.Deactivated {
		t.Fatalf("account.json: %+v", account)
	}
	var profile map[string]any
	jsonFile(t, files, "profile.json", &profile)
	if profile["displayname"] != "Alice Amtsrätin" {
		t.Fatalf("profile.json: %v", profile)
	}
	var devices []struct {
		DeviceID   string  `json:"device_id"`
		LastSeenIP *string `json:"last_seen_ip"`
	}
	jsonFile(t, files, "devices.json", &devices)
	if len(devices) != 1 || devices[0].DeviceID != alice.DeviceID.String() || devices[0].LastSeenIP == nil {
		t.Fatalf("devices.json: %+v", devices)
	}
	var rooms []struct {
		RoomID     string `json:"room_id"`
		Membership string `json:"membership"`
	}
	jsonFile(t, files, "rooms.json", &rooms)
	if len(rooms) != 1 || rooms[0].RoomID != room.RoomID.String() || rooms[0].Membership != "join" {
		t.Fatalf("rooms.json: %+v", rooms)
	}

	// Events: one stored PDU per line, alice's only, byte for byte.
	stored := map[string][]byte{}
	rows, err := srv.App.DB.Read.Query(`SELECT event_id, pdu FROM events WHERE sender = $1`, alice.UserID.String())
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var eid string
		var pdu []byte
		if err := rows.Scan(&eid, &pdu); err != nil {
			t.Fatal(err)
		}
		stored[eid] = pdu
	}
	rows.Close()
	exported := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(files["events.jsonl"]))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			EventID string `json:"event_id"`
			Sender  string `json:"sender"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("events.jsonl line %q: %v", sc.Text(), err)
		}
		if ev.Sender != alice.UserID.String() {
			t.Fatalf("events.jsonl holds an event of %s", ev.Sender)
		}
		// Room versions 3 and up have no event_id in the PDU: find the
		// stored event by its bytes.
		found := ""
		for eid, pdu := range stored {
			if bytes.Equal(pdu, sc.Bytes()) {
				found = eid
			}
		}
		if found == "" {
			t.Fatalf("events.jsonl line is not a stored event byte for byte: %s", sc.Text())
		}
		exported[found] = true
	}
	if len(exported) != len(stored) {
		t.Fatalf("exported %d of alice's %d events", len(exported), len(stored))
	}
	for _, eid := range sent {
		if !exported[eid.String()] {
			t.Fatalf("message %s missing from events.jsonl", eid)
		}
	}

	var accountData []struct {
		Type    string          `json:"type"`
		Content json.RawMessage `json:"content"`
	}
	jsonFile(t, files, "account_data.json", &accountData)
	foundSettings := false
	for _, d := range accountData {
		foundSettings = foundSettings || (d.Type == "org.example.settings" && strings.Contains(string(d.Content), "dunkel"))
	}
	if !foundSettings {
		t.Fatalf("account_data.json: %s", files["account_data.json"])
	}
	var reports []struct {
		EventID string `json:"event_id"`
		Reason  string `json:"reason"`
	}
	jsonFile(t, files, "reports.json", &reports)
	if len(reports) != 1 || reports[0].EventID != bobs.EventID.String() || reports[0].Reason != "Werbung" {
		t.Fatalf("reports.json: %+v", reports)
	}
	for _, name := range []string{"threepids.json", "pushers.json", "push_rules.json", "manifest.json"} {
		var v any
		jsonFile(t, files, name, &v)
	}
	checkMedia := func(t *testing.T, files map[string][]byte) {
		t.Helper()
		var media []struct {
			MXC, File, Missing string
		}
		jsonFile(t, files, "media.json", &media)
		if len(media) != len(uploads) {
			t.Fatalf("media.json lists %d uploads, want %d", len(media), len(uploads))
		}
		for _, m := range media {
			want, ok := uploads[m.MXC]
			if !ok || m.File == "" {
				t.Fatalf("media.json entry %+v", m)
			}
			if !bytes.Equal(files[m.File], want) {
				t.Fatalf("%s in the archive differs from the upload (%d bytes, want %d)", m.File, len(files[m.File]), len(want))
			}
		}
	}
	checkMedia(t, files)
	if _, ok := files["erasure.json"]; ok {
		t.Fatal("an active account's export has erasure.json")
	}
	status, body := adminCall(t, admin, "GET", "/v1/audit_log?action=user.export", nil)
	if status != 200 || !strings.Contains(gjsonOf(body).Raw, alice.UserID.String()) {
		t.Fatalf("audit log: %d %v", status, body)
	}

	// Deactivation with erase, then the export again.
	if status, body := adminCall(t, admin, "POST", "/v1/deactivate/"+esc(alice.UserID.String()), map[string]any{"erase": true}); status != 200 {
		t.Fatalf("deactivate: %d %v", status, body)
	}
	status, _, archive = exportOf(t, srv, admin, alice.UserID.String())
	if status != 200 {
		t.Fatalf("export of the erased account: %d", status)
	}
	files = unzip(t, archive)
	var erasure struct {
		Erased  bool     `json:"erased"`
		Removed []string `json:"removed"`
		Kept    []struct {
			File  string `json:"file"`
			Count int    `json:"count"`
			Why   string `json:"why"`
		} `json:"kept"`
	}
	jsonFile(t, files, "erasure.json", &erasure)
	kept := map[string]int{}
	for _, k := range erasure.Kept {
		if k.Why == "" {
			t.Fatalf("kept without a reason: %+v", k)
		}
		kept[k.File] = k.Count
	}
	if !erasure.Erased || kept["events.jsonl"] < len(sent) || kept["media.json"] != 2 || kept["rooms.json"] != 1 || kept["reports.json"] != 1 {
		t.Fatalf("erasure.json: %s", files["erasure.json"])
	}
	profile = nil
	jsonFile(t, files, "profile.json", &profile)
	if len(profile) != 0 {
		t.Fatalf("the erased account still has a profile: %v", profile)
	}
	jsonFile(t, files, "account_data.json", &accountData)
	jsonFile(t, files, "devices.json", &devices)
	if len(accountData) != 0 || len(devices) != 0 {
		t.Fatalf("the erased account kept account data %s or devices %s", files["account_data.json"], files["devices.json"])
	}
	jsonFile(t, files, "rooms.json", &rooms)
	if len(rooms) != 1 || rooms[0].Membership != "leave" {
		t.Fatalf("rooms.json after the deactivation: %+v", rooms)
	}
	checkMedia(t, files)
}
