package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
)

// TestExportUserCommand: `rohrpost export-user` with the server's config
// writes the archive of a user, uploads included byte for byte, and
// refuses what it cannot do with a message.
func TestExportUserCommand(t *testing.T) {
	dir := t.TempDir()
	srv := apptest.StartWith(t, apptest.Config(dir))
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	memo := []byte("Aktenvermerk für die Personalakte")
	up, err := alice.UploadBytesWithName(ctx, memo, "text/plain", "vermerk.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}); err != nil {
		t.Fatal(err)
	}
	db := srv.App.Config.Database
	cfgFile := filepath.Join(dir, "rohrpost.yaml")
	yaml := "server_name: " + string(srv.App.Config.ServerName) + "\ndata_dir: " + dir + "\n"
	if db.Type == "postgres" {
		yaml += "database:\n  type: postgres\n  uri: " + db.URI + "\n"
	} else {
		yaml += "database:\n  type: sqlite\n  path: " + db.Path + "\n"
	}
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "alice.zip")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"export-user", "--config", cfgFile, alice.UserID.String(), out}, nil, &stdout, &stderr); err != nil {
		t.Fatalf("export-user: %v\n%s", err, stderr.String())
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var account struct {
		UserID string `json:"user_id"`
	}
	if err := json.Unmarshal(files["account.json"], &account); err != nil || account.UserID != alice.UserID.String() {
		t.Fatalf("account.json: %s (%v)", files["account.json"], err)
	}
	var media []struct {
		MXC  string `json:"mxc"`
		File string `json:"file"`
	}
	if err := json.Unmarshal(files["media.json"], &media); err != nil || len(media) != 1 || media[0].MXC != up.ContentURI.String() {
		t.Fatalf("media.json: %s (%v)", files["media.json"], err)
	}
	if !bytes.Equal(files[media[0].File], memo) {
		t.Fatalf("the upload in the archive: %q, want %q", files[media[0].File], memo)
	}
	if !bytes.Contains(files["events.jsonl"], []byte(`"m.room.create"`)) {
		t.Fatalf("events.jsonl lacks the room alice created: %s", files["events.jsonl"])
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"existing file", []string{alice.UserID.String(), out}, "exists"},
		{"unknown user", []string{"@niemand:" + string(srv.App.Config.ServerName), filepath.Join(t.TempDir(), "x.zip")}, "no such local account"},
		{"remote user", []string{"@jemand:example.org", filepath.Join(t.TempDir(), "x.zip")}, "not a user of this server"},
		{"not a user id", []string{"alice", filepath.Join(t.TempDir(), "x.zip")}, "not a user id"},
		{"no file", []string{alice.UserID.String()}, "needs a user id and a file name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(append([]string{"export-user", "--config", cfgFile}, tc.args...), nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	// A refused export leaves no file behind.
	if entries, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*")); len(entries) != 1 {
		t.Fatalf("files beside the archive: %v", entries)
	}
}
