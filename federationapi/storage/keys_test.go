package storage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/testdb"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type keyReq = gomatrixserverlib.PublicKeyLookupRequest
type keyRes = gomatrixserverlib.PublicKeyLookupResult

func key(b byte, validUntil, expired spec.Timestamp) keyRes {
	k := make([]byte, 32)
	k[0] = b
	return keyRes{VerifyKey: gomatrixserverlib.VerifyKey{Key: k}, ValidUntilTS: validUntil, ExpiredTS: expired}
}

func TestServerKeysMerge(t *testing.T) {
	a1 := keyReq{ServerName: "a.example", KeyID: "ed25519:1"}
	tests := []struct {
		name   string
		stored keyRes
		add    keyRes
		want   keyRes
	}{
		{"validity grows", key(1, 100, 0), key(1, 200, 0), key(1, 200, 0)},
		{"a stale answer does not shorten it", key(1, 200, 0), key(1, 100, 0), key(1, 200, 0)},
		{"an expiry is recorded", key(1, 200, 0), key(1, 0, 150), key(1, 200, 150)},
		{"an expiry stays", key(1, 200, 150), key(1, 300, 0), key(1, 300, 150)},
		{"the first expiry stays", key(1, 200, 150), key(1, 0, 170), key(1, 200, 150)},
		{"new bytes replace the key", key(1, 200, 150), key(2, 100, 0), key(2, 100, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			ctx := context.Background()
			if err := s.StoreServerKeys(ctx, map[keyReq]keyRes{a1: tc.stored}); err != nil {
				t.Fatal(err)
			}
			if err := s.StoreServerKeys(ctx, map[keyReq]keyRes{a1: tc.add}); err != nil {
				t.Fatal(err)
			}
			got, err := s.ServerKeys(ctx, []spec.ServerName{"a.example"})
			if err != nil {
				t.Fatal(err)
			}
			if g := got[a1]; string(g.Key) != string(tc.want.Key) || g.ValidUntilTS != tc.want.ValidUntilTS || g.ExpiredTS != tc.want.ExpiredTS {
				t.Fatalf("got %+v, want %+v", g, tc.want)
			}
		})
	}
}

func TestServerKeysPerServer(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	keys := map[keyReq]keyRes{
		{ServerName: "a.example", KeyID: "ed25519:1"}:      key(1, 100, 0),
		{ServerName: "a.example", KeyID: "ed25519:old"}:    key(2, 0, 50),
		{ServerName: "b.example:8448", KeyID: "ed25519:1"}: key(3, 100, 0),
	}
	if err := s.StoreServerKeys(ctx, keys); err != nil {
		t.Fatal(err)
	}
	got, err := s.ServerKeys(ctx, []spec.ServerName{"a.example", "c.example"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[keyReq{ServerName: "a.example", KeyID: "ed25519:old"}].ExpiredTS != 50 {
		t.Fatalf("got %+v", got)
	}
	if got, _ := s.ServerKeys(ctx, nil); len(got) != 0 {
		t.Fatalf("no servers: %+v", got)
	}
	// More servers than one IN list holds.
	many := make([]spec.ServerName, 0, keyQueryChunk+5)
	for i := 0; i < keyQueryChunk+4; i++ {
		many = append(many, spec.ServerName("x"+string(rune('a'+i%26))+".example"))
	}
	many = append(many, "b.example:8448")
	if got, err := s.ServerKeys(ctx, many); err != nil || len(got) != 1 {
		t.Fatalf("chunked: %+v, %v", got, err)
	}
}

func TestKeyResponse(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if _, err := s.KeyResponse(ctx, "a.example"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	steps := []struct {
		json    string
		fetched spec.Timestamp
		want    string
	}{
		{`{"v":1}`, 100, `{"v":1}`},
		{`{"v":2}`, 200, `{"v":2}`},
		{`{"v":"late"}`, 150, `{"v":2}`}, // fetched before the stored one
	}
	for _, st := range steps {
		err := s.StoreKeyResponse(ctx, KeyResponse{ServerName: "a.example", JSON: []byte(st.json), ValidUntil: st.fetched + 1000, Fetched: st.fetched})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.KeyResponse(ctx, "a.example")
		if err != nil || string(got.JSON) != st.want {
			t.Fatalf("after %s: %s, %v", st.json, got.JSON, err)
		}
	}
}

func TestKeyResponsesByKey(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	store := func(json string, fetched spec.Timestamp) {
		t.Helper()
		if err := s.StoreKeyResponse(ctx, KeyResponse{ServerName: "a.example", JSON: []byte(json), ValidUntil: fetched + 1000, Fetched: fetched}); err != nil {
			t.Fatal(err)
		}
	}
	store(`{"verify_keys":{"ed25519:one":{}}}`, 100)
	store(`{"verify_keys":{"ed25519:two":{}},"old_verify_keys":{"ed25519:old":{}}}`, 200)
	store(`{"verify_keys":{"ed25519:one":{}},"v":"late"}`, 150) // newer for one, older than the newest
	tests := []struct {
		keys []string
		want map[string]string
	}{
		{nil, map[string]string{}},
		{[]string{"ed25519:one"}, map[string]string{"ed25519:one": `{"verify_keys":{"ed25519:one":{}},"v":"late"}`}},
		{[]string{"ed25519:two", "ed25519:old", "ed25519:none"}, map[string]string{
			"ed25519:two": `{"verify_keys":{"ed25519:two":{}},"old_verify_keys":{"ed25519:old":{}}}`,
			"ed25519:old": `{"verify_keys":{"ed25519:two":{}},"old_verify_keys":{"ed25519:old":{}}}`,
		}},
	}
	for _, tc := range tests {
		got, err := s.KeyResponsesFor(ctx, "a.example", tc.keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%v: %d responses, want %d", tc.keys, len(got), len(tc.want))
		}
		for id, want := range tc.want {
			if string(got[id].JSON) != want {
				t.Errorf("%s: %s, want %s", id, got[id].JSON, want)
			}
		}
	}
	// The newest response is still the one fetched last.
	if newest, err := s.KeyResponse(ctx, "a.example"); err != nil || !strings.Contains(string(newest.JSON), "ed25519:two") {
		t.Fatalf("newest = %s, %v", newest.JSON, err)
	}
}
