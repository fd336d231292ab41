package app_test

import (
	"context"
	"slices"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// What /versions advertises is served: v1.11's authenticated media above
// all, since clients use the unauthenticated endpoints (frozen here)
// unless the server says v1.11.
func TestVersionsAdvertiseWhatIsServed(t *testing.T) {
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	v, err := alice.Versions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, sv := range v.Versions {
		versions = append(versions, sv.String())
	}
	if !slices.Contains(versions, "v1.11") || !v.UnstableFeatures["org.matrix.msc3814"] {
		t.Fatalf("versions %v, unstable features %v", versions, v.UnstableFeatures)
	}
	if status, body := rawCallV1(t, alice, "GET", "/media/config"); status != 200 || body["m.upload.size"] == nil {
		t.Errorf("v1.11 authenticated media config: %d %v", status, body)
	}
}
