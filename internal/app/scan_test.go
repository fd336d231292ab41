package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/mediaapi/clamd/clamdtest"
	"maunium.net/go/mautrix"
)

func TestUploadsAreScanned(t *testing.T) {
	t.Parallel()
	clam := clamdtest.Start(t)
	cfg := apptest.Config(t.TempDir())
	cfg.ContentScanner.Clamd = clam.Address
	cfg.ContentScanner.FailClosed = true
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	status := func(err error) int {
		if httpErr, ok := err.(mautrix.HTTPError); ok && httpErr.Response != nil {
			return httpErr.Response.StatusCode
		}
		if err != nil {
			t.Fatal(err)
		}
		return 200
	}
	// The infected file is refused with a clear reason and kept aside.
	_, err := alice.UploadBytesWithName(ctx, clamdtest.Infected, "application/octet-stream", "rechnung.exe")
	if status(err) != 403 || !strings.Contains(err.Error(), clamdtest.SignatureName) {
		t.Fatalf("infected upload: %v", err)
	}
	quarantined, err := srv.App.Media.Quarantined(ctx, 10)
	if err != nil || len(quarantined) != 1 || quarantined[0].Uploader != alice.UserID.String() || quarantined[0].Filename != "rechnung.exe" {
		t.Fatalf("quarantine: %+v (%v)", quarantined, err)
	}
	// Again: refused from the remembered verdict.
	if _, err := alice.UploadBytes(ctx, clamdtest.Infected, "text/plain"); status(err) != 403 {
		t.Fatalf("infected upload again: %v", err)
	}
	// A clean file passes and can be downloaded.
	clean, err := alice.UploadBytes(ctx, []byte("Protokoll der Sitzung"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/_matrix/client/v1/media/download/localhost/"+clean.ContentURI.FileID, nil)
	req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("clean download: %v %v", resp, err)
	}
	// Without clamd, fail-closed refuses new files and stores nothing.
	clam.Stop()
	if _, err := alice.UploadBytes(ctx, []byte("ungeprüft"), "text/plain"); status(err) != 503 {
		t.Fatalf("upload with clamd down: %v", err)
	}
}
