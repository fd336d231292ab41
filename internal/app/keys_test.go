package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
)

// testKey is an ed25519 key pair as clients hold them.
type testKey struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newTestKey(t *testing.T) testKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{pub, priv}
}

func (k testKey) b64() string { return base64.RawStdEncoding.EncodeToString(k.pub) }

// sign signs obj as user with the key named keyID.
func (k testKey) sign(t *testing.T, user, keyID string, obj map[string]any) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(obj)
	signed, err := gomatrixserverlib.SignJSON(user, gomatrixserverlib.KeyID(keyID), k.priv, raw)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal(signed, &out)
	return out
}

func deviceKeys(t *testing.T, cli *mautrix.Client, k testKey) map[string]any {
	dev := cli.DeviceID.String()
	return k.sign(t, cli.UserID.String(), "ed25519:"+dev, map[string]any{
		"user_id": cli.UserID.String(), "device_id": dev,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys":       map[string]any{"ed25519:" + dev: k.b64(), "curve25519:" + dev: base64.RawStdEncoding.EncodeToString(make([]byte, 32))},
	})
}

func TestDeviceKeys(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	bobSync, err := bob.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	key := newTestKey(t)
	otks := map[string]any{}
	for i := 0; i < 10; i++ {
		otks[fmt.Sprintf("signed_curve25519:K%02d", i)] = map[string]any{"key": fmt.Sprintf("otk%d", i)}
	}
	status, body := rawCall(t, alice, "POST", "/keys/upload", map[string]any{"device_keys": deviceKeys(t, alice, key), "one_time_keys": otks,
		"fallback_keys": map[string]any{"signed_curve25519:FB": map[string]any{"key": "fallback", "fallback": true}}})
	if status != 200 || gjsonOf(body).Get("one_time_key_counts.signed_curve25519").Int() != 10 {
		t.Fatalf("upload: %d %v", status, body)
	}
	// Bad uploads.
	for name, dk := range map[string]map[string]any{
		"no keys":      {"user_id": alice.UserID.String(), "device_id": alice.DeviceID.String(), "algorithms": []string{}},
		"another user": key.sign(t, bob.UserID.String(), "ed25519:X", map[string]any{"user_id": bob.UserID.String(), "device_id": "X", "algorithms": []string{}, "keys": map[string]any{}}),
	} {
		if status, body := rawCall(t, alice, "POST", "/keys/upload", map[string]any{"device_keys": dk}); status != 400 {
			t.Errorf("%s: %d %v, want 400", name, status, body)
		}
	}
	// Bob queries and sees the keys; his sync says alice's devices changed.
	status, body = rawCall(t, bob, "POST", "/keys/query", map[string]any{"device_keys": map[string]any{alice.UserID.String(): []string{}}})
	if got := gjsonOf(body).Get("device_keys." + gjson.Escape(alice.UserID.String()) + "." + alice.DeviceID.String() + ".keys.ed25519:" + alice.DeviceID.String()); status != 200 || got.String() != key.b64() {
		t.Fatalf("query: %d %v", status, body)
	}
	next, err := bob.SyncRequest(ctx, 0, bobSync.NextBatch, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if !containsUser(next.DeviceLists.Changed, alice.UserID.String()) {
		t.Fatalf("device_lists.changed = %v, want alice", next.DeviceLists.Changed)
	}
	if status, body := rawCall(t, bob, "GET", "/keys/changes?from="+bobSync.NextBatch+"&to="+next.NextBatch, nil); status != 200 ||
		!containsAny(body["changed"], alice.UserID.String()) {
		t.Fatalf("keys/changes: %d %v", status, body)
	}
	// Twenty devices claim at once: the ten one-time keys go out once
	// each, then the fallback key.
	claims := make([]string, 20)
	var wg sync.WaitGroup
	for i := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, body := rawCall(t, bob, "POST", "/keys/claim", map[string]any{"one_time_keys": map[string]any{
				alice.UserID.String(): map[string]any{alice.DeviceID.String(): "signed_curve25519"}}})
			for id := range gjsonOf(body).Get("one_time_keys." + gjson.Escape(alice.UserID.String()) + "." + alice.DeviceID.String()).Map() {
				claims[i] = id
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, id := range claims {
		seen[id]++
	}
	if seen["signed_curve25519:FB"] != 10 || len(seen) != 11 {
		t.Fatalf("claims: %v", seen)
	}
	aliceSync, err := alice.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := aliceSync.DeviceOTKCount.SignedCurve25519; n != 0 {
		t.Fatalf("one-time keys left: %d", n)
	}
	if len(aliceSync.FallbackKeys) != 0 {
		t.Fatalf("the used fallback key is still listed as unused: %v", aliceSync.FallbackKeys)
	}
	// Bob leaves: alice's sync lists him as left.
	aliceNext := aliceSync.NextBatch
	if _, err := bob.LeaveRoom(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	resp, err := alice.SyncRequest(ctx, 0, aliceNext, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if !containsUser(resp.DeviceLists.Left, bob.UserID.String()) {
		t.Fatalf("device_lists.left = %v, want bob", resp.DeviceLists.Left)
	}
}

func gjsonOf(v any) gjson.Result {
	raw, _ := json.Marshal(v)
	return gjson.ParseBytes(raw)
}

func containsAny(list any, want string) bool {
	items, _ := list.([]any)
	for _, it := range items {
		if it == want {
			return true
		}
	}
	return false
}

func containsUser[T ~string](list []T, want string) bool {
	for _, u := range list {
		if string(u) == want {
			return true
		}
	}
	return false
}

// /keys/query answers for many users and devices at once: only the
// devices asked for (all for an empty list), only devices with keys, each
// with its display name under unsigned.
func TestKeysQueryShape(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	laptop := loginAgain(t, srv, alice, "LAPTOP")
	_ = loginAgain(t, srv, alice, "NOKEYS")
	for _, cli := range []*mautrix.Client{alice, laptop} {
		if status, body := rawCall(t, cli, "POST", "/keys/upload", map[string]any{"device_keys": deviceKeys(t, cli, newTestKey(t))}); status != 200 {
			t.Fatalf("upload: %d %v", status, body)
		}
	}
	if err := alice.SetDeviceInfo(ctx, "LAPTOP", &mautrix.ReqDeviceInfo{DisplayName: "Dienstlaptop"}); err != nil {
		t.Fatal(err)
	}
	a := alice.UserID.String()
	for _, tc := range []struct {
		name    string
		ask     map[string]any
		devices map[string][]string // user → the device ids answered
	}{
		{"all devices", map[string]any{a: []string{}}, map[string][]string{a: {alice.DeviceID.String(), "LAPTOP"}}},
		{"one device", map[string]any{a: []string{"LAPTOP"}}, map[string][]string{a: {"LAPTOP"}}},
		{"a device without keys", map[string]any{a: []string{"NOKEYS"}}, map[string][]string{a: {}}},
		{"a user without keys", map[string]any{bob.UserID.String(): []string{}}, map[string][]string{bob.UserID.String(): {}}},
		{"an unknown user", map[string]any{"@nobody:localhost": []string{}}, map[string][]string{"@nobody:localhost": {}}},
	} {
		status, body := rawCall(t, bob, "POST", "/keys/query", map[string]any{"device_keys": tc.ask})
		if status != 200 {
			t.Fatalf("%s: %d %v", tc.name, status, body)
		}
		for user, want := range tc.devices {
			got := gjsonOf(body).Get("device_keys." + gjson.Escape(user)).Map()
			if len(got) != len(want) {
				t.Errorf("%s: %s's devices %v, want %v", tc.name, user, got, want)
			}
			for _, d := range want {
				if !got[d].Get("unsigned").IsObject() || got[d].Get("signatures").Raw == "" {
					t.Errorf("%s: device %s = %s", tc.name, d, got[d].Raw)
				}
			}
		}
	}
	_, body := rawCall(t, bob, "POST", "/keys/query", map[string]any{"device_keys": map[string]any{a: []string{"LAPTOP"}}})
	if name := gjsonOf(body).Get("device_keys." + gjson.Escape(a) + ".LAPTOP.unsigned.device_display_name").String(); name != "Dienstlaptop" {
		t.Errorf("display name %q, want Dienstlaptop", name)
	}
}

// A device that uploads new identity keys (its client reset its crypto
// store) replaces its keys; its contacts see the new ones and hear of the
// change (decision 0014).
func TestNewIdentityKeysReplaceTheOld(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), nil); err != nil {
		t.Fatal(err)
	}
	first, second := newTestKey(t), newTestKey(t)
	if status, body := rawCall(t, alice, "POST", "/keys/upload", map[string]any{"device_keys": deviceKeys(t, alice, first),
		"one_time_keys": map[string]any{"signed_curve25519:A": map[string]any{"key": "old"}}}); status != 200 {
		t.Fatalf("first upload: %d %v", status, body)
	}
	bobSync, err := bob.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if status, body := rawCall(t, alice, "POST", "/keys/upload", map[string]any{"device_keys": deviceKeys(t, alice, second)}); status != 200 ||
		gjsonOf(body).Get("one_time_key_counts.signed_curve25519").Int() != 0 {
		t.Fatalf("new identity keys: %d %v, want 200 and the old one-time keys gone", status, body)
	}
	status, body := rawCall(t, bob, "POST", "/keys/query", map[string]any{"device_keys": map[string]any{alice.UserID.String(): []string{}}})
	if got := gjsonOf(body).Get("device_keys." + gjson.Escape(alice.UserID.String()) + "." + alice.DeviceID.String() + ".keys.ed25519:" + alice.DeviceID.String()); status != 200 || got.String() != second.b64() {
		t.Fatalf("query after the reset: %d %v", status, body)
	}
	next, err := bob.SyncRequest(ctx, 0, bobSync.NextBatch, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if !containsUser(next.DeviceLists.Changed, alice.UserID.String()) {
		t.Fatalf("device_lists.changed = %v, want alice", next.DeviceLists.Changed)
	}
}

// Invited members count as sharing the room for device lists: clients
// encrypt for them too. The inviter hears of the invitee on the invite and
// of their key changes while invited, and that they left when they reject.
func TestDeviceListsCountInvitedMembers(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := alice.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	since := first.NextBatch
	next := func(what string, check func(*mautrix.RespSync) bool) {
		t.Helper()
		resp, err := alice.SyncRequest(ctx, 0, since, "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		if !check(resp) {
			t.Fatalf("%s: device_lists %+v", what, resp.DeviceLists)
		}
		since = resp.NextBatch
	}
	if _, err := alice.InviteUser(ctx, room.RoomID, &mautrix.ReqInviteUser{UserID: bob.UserID}); err != nil {
		t.Fatal(err)
	}
	next("after the invite", func(r *mautrix.RespSync) bool { return containsUser(r.DeviceLists.Changed, bob.UserID.String()) })
	if status, body := rawCall(t, bob, "POST", "/keys/upload", map[string]any{"device_keys": deviceKeys(t, bob, newTestKey(t))}); status != 200 {
		t.Fatalf("upload: %d %v", status, body)
	}
	next("after the invitee's key upload", func(r *mautrix.RespSync) bool { return containsUser(r.DeviceLists.Changed, bob.UserID.String()) })
	if _, err := bob.LeaveRoom(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	next("after the rejection", func(r *mautrix.RespSync) bool { return containsUser(r.DeviceLists.Left, bob.UserID.String()) })
}
