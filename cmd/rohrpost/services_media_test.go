package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/mediaapi/clamd/clamdtest"
	"maunium.net/go/mautrix"
)

// mediaThroughGateway uploads through the gateway of a deployment that
// runs deploy/rohrpost.yaml as shipped, and downloads what it uploaded
// as another user; with a scanner, infected bytes are refused.
func mediaThroughGateway(t *testing.T, d *deployment, alice, bob *mautrix.Client) {
	ctx := context.Background()
	gw := d.url(0)
	alice, bob = at(t, gw, alice), at(t, gw, bob)
	payload := make([]byte, 200<<10)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	up, err := alice.UploadBytesWithName(ctx, payload, "application/octet-stream", "Bericht.bin")
	if err != nil {
		t.Fatalf("upload through the gateway: %v", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		gw+"/_matrix/client/v1/media/download/"+up.ContentURI.Homeserver+"/"+up.ContentURI.FileID, nil)
	req.Header.Set("Authorization", "Bearer "+bob.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, payload) {
		t.Fatalf("download through the gateway: %s, %d bytes (want 200, the %d uploaded)", resp.Status, len(got), len(payload))
	}

	cfg, err := os.ReadFile(filepath.Join(d.dir, "rohrpost.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "clamd: unix:") {
		t.Log("no clamd in this deployment: the infected upload is not tried")
		return
	}
	_, err = alice.UploadBytesWithName(ctx, clamdtest.Infected, "text/plain", "eicar.txt")
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) || httpErr.Response == nil || httpErr.Response.StatusCode < 400 {
		t.Fatalf("infected upload through the gateway: err = %v, want it refused", err)
	}
}
