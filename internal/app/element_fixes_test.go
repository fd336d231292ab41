package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// Element Web sets up cross-signing only when /versions advertises
// org.matrix.e2e_cross_signing (issue 12).
func TestVersionsAdvertiseCrossSigning(t *testing.T) {
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
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	status, body := rawCall(t, alice, "GET", "/voip/turnServer", nil)
	if status != 200 || len(body) != 0 {
		t.Fatalf("got %d %v, want 200 {}", status, body)
	}
}
