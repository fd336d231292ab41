package userapi

import (
	"context"
	"strings"
	"testing"
)

func TestNewAccessToken(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		token, hash, err := newAccessToken()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(token, tokenPrefix) || len(token) != len(tokenPrefix)+43 || seen[token] {
			t.Fatalf("token %q", token)
		}
		if h := hashToken(token); string(h[:]) != string(hash) {
			t.Fatal("hash does not match the token")
		}
		seen[token] = true
	}
	id, err := newDeviceID()
	if err != nil || len(id) != 10 || strings.ToUpper(id) != id || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		t.Errorf("device id %q, %v", id, err)
	}
}

// BenchmarkVerifyAccessToken measures the check every authenticated
// request pays: a cache hit.
func BenchmarkVerifyAccessToken(b *testing.B) {
	s := newTestServer(b)
	ctx := context.Background()
	sess, err := s.Register(ctx, RegisterRequest{User: uid(b, "@bench:test"), Password: "pw"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.VerifyAccessToken(ctx, sess.AccessToken); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.VerifyAccessToken(ctx, sess.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}
