package app_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
)

// TestMaxAvatarSize: an avatar larger than max_avatar_size, or media the
// server does not have, is refused with 403 M_FORBIDDEN; a small upload
// is taken and clearing is always allowed.
func TestMaxAvatarSize(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.MaxAvatarSize = config.ByteSize(1 << 10)
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	small, err := alice.UploadBytes(ctx, bytes.Repeat([]byte("a"), 512), "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	large, err := alice.UploadBytes(ctx, bytes.Repeat([]byte("b"), 4096), "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	path := "/profile/" + alice.UserID.String() + "/avatar_url"
	for _, tc := range []struct {
		name, url string
		status    int
		code      string
	}{
		{"small upload", small.ContentURI.String(), 200, ""},
		{"too large", large.ContentURI.String(), 403, "M_FORBIDDEN"},
		{"unknown media", "mxc://" + string(cfg.ServerName) + "/nothere", 403, "M_FORBIDDEN"},
		{"remote media never fetched", "mxc://elsewhere.example/abc", 403, "M_FORBIDDEN"},
		{"cleared", "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawCall(t, alice, "PUT", path, map[string]any{"avatar_url": tc.url})
			if status != tc.status || (tc.code != "" && body["errcode"] != tc.code) {
				t.Fatalf("%d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
}
