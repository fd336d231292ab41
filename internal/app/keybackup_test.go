package app_test

import (
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

func TestKeyBackup(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	call := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		return rawCall(t, alice, method, path, body)
	}
	if status, body := call("GET", "/room_keys/version", nil); status != 404 || body["errcode"] != "M_NOT_FOUND" {
		t.Fatalf("no backup yet: %d %v", status, body)
	}
	keyData := map[string]any{"first_message_index": 0, "forwarded_count": 0, "is_verified": false, "session_data": map[string]any{}}
	if status, body := call("PUT", "/room_keys/keys/!r:x/s1?version=1", keyData); status != 404 || body["errcode"] != "M_NOT_FOUND" {
		t.Fatalf("keys without a backup: %d %v", status, body)
	}
	auth := map[string]any{"public_key": "abcdefg", "signatures": map[string]any{}}
	status, body := call("POST", "/room_keys/version", map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth})
	if status != 200 || body["version"] != "1" {
		t.Fatalf("create: %d %v", status, body)
	}
	data := func(index, forwarded int, verified bool, tag string) map[string]any {
		return map[string]any{"first_message_index": index, "forwarded_count": forwarded, "is_verified": verified,
			"session_data": map[string]any{"ciphertext": tag}}
	}
	steps := []struct {
		name, method, path string
		body               any
		status             int
		count              int
	}{
		{"one session", "PUT", "/room_keys/keys/!r:x/s1?version=1", data(5, 0, false, "a"), 200, 1},
		{"a room", "PUT", "/room_keys/keys/!r:x?version=1", map[string]any{"sessions": map[string]any{"s2": data(0, 0, false, "b")}}, 200, 2},
		{"all rooms", "PUT", "/room_keys/keys?version=1", map[string]any{"rooms": map[string]any{"!q:x": map[string]any{"sessions": map[string]any{"s3": data(0, 0, false, "c")}}}}, 200, 3},
		{"a worse copy is ignored", "PUT", "/room_keys/keys/!r:x/s1?version=1", data(9, 0, false, "worse"), 200, 3},
		{"a better copy replaces", "PUT", "/room_keys/keys/!r:x/s1?version=1", data(1, 0, false, "better"), 200, 3},
		{"no version", "PUT", "/room_keys/keys/!r:x/s1", data(1, 0, false, "x"), 400, 0},
		{"incomplete key", "PUT", "/room_keys/keys/!r:x/s1?version=1", map[string]any{"session_data": map[string]any{}}, 400, 0},
		{"negative index", "PUT", "/room_keys/keys/!r:x/s1?version=1", data(-1, 0, false, "x"), 400, 0},
		{"not JSON", "PUT", "/room_keys/keys?version=1", "rooms", 400, 0},
		{"a version that is no number", "PUT", "/room_keys/keys/!r:x/s1?version=eins", data(0, 0, false, "x"), 403, 0},
	}
	var etag any
	for _, st := range steps {
		status, body := call(st.method, st.path, st.body)
		if status != st.status {
			t.Fatalf("%s: %d %v", st.name, status, body)
		}
		if status == 200 {
			if int(body["count"].(float64)) != st.count {
				t.Fatalf("%s: count %v, want %d", st.name, body["count"], st.count)
			}
			if st.name == "a worse copy is ignored" && body["etag"] != etag {
				t.Fatalf("etag changed without a change: %v -> %v", etag, body["etag"])
			}
			if st.name == "a better copy replaces" && body["etag"] == etag {
				t.Fatal("etag did not change with the keys")
			}
			etag = body["etag"]
		}
	}
	if _, body := call("GET", "/room_keys/keys/!r:x/s1?version=1", nil); gjsonOf(body).Get("session_data.ciphertext").String() != "better" {
		t.Fatalf("session: %v", body)
	}
	if _, body := call("GET", "/room_keys/keys?version=1", nil); gjsonOf(body).Get("rooms.!r:x.sessions.@keys.#").Int() != 2 {
		t.Fatalf("all keys: %v", body)
	}
	if status, _ := call("GET", "/room_keys/keys/!r:x/nope?version=1", nil); status != 404 {
		t.Fatalf("unknown session: %d", status)
	}
	if _, body := call("GET", "/room_keys/version", nil); body["count"] != float64(3) || body["version"] != "1" {
		t.Fatalf("version info: %v", body)
	}
	// A new version takes over; writes to the old one are refused.
	call("POST", "/room_keys/version", map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth})
	status, body = call("PUT", "/room_keys/keys/!r:x/s1?version=1", data(0, 0, true, "late"))
	if status != 403 || body["errcode"] != "M_WRONG_ROOM_KEYS_VERSION" || body["current_version"] != "2" {
		t.Fatalf("old version: %d %v", status, body)
	}
	if status, body := call("PUT", "/room_keys/version/2", map[string]any{"algorithm": "other", "auth_data": auth}); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
		t.Fatalf("changing the algorithm: %d %v", status, body)
	}
	if status, body := call("PUT", "/room_keys/version/2", map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth, "version": "1"}); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
		t.Fatalf("another version in the body: %d %v", status, body)
	}
	if status, body := call("PUT", "/room_keys/version/9", map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth}); status != 404 || body["errcode"] != "M_NOT_FOUND" {
		t.Fatalf("updating a version that does not exist: %d %v", status, body)
	}
	if status, _ := call("PUT", "/room_keys/version/2", map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": map[string]any{"public_key": "new"}}); status != 200 {
		t.Fatalf("updating auth_data: %d", status)
	}
	if status, body := call("DELETE", "/room_keys/keys/!r:x?version=1", nil); status != 200 || body["count"] != float64(1) {
		t.Fatalf("delete a room: %d %v", status, body)
	}
	if status, _ := call("DELETE", "/room_keys/version/1", nil); status != 200 {
		t.Fatalf("delete version 1: %d", status)
	}
	if status, _ := call("GET", "/room_keys/version/1", nil); status != 404 {
		t.Fatalf("deleted version: %d", status)
	}
	if status, _ := call("GET", "/room_keys/keys?version=1", nil); status != 404 {
		t.Fatalf("keys of a deleted version: %d", status)
	}
	if status, body := call("GET", "/room_keys/keys/!nichts:x?version=2", nil); status != 200 || gjsonOf(body).Get("sessions").Raw != "{}" {
		t.Fatalf("a room without keys: %d %v", status, body)
	}
	// Deleting the newest version leaves none to write to.
	if status, _ := call("DELETE", "/room_keys/version/2", nil); status != 200 {
		t.Fatalf("delete version 2: %d", status)
	}
	if status, body := call("PUT", "/room_keys/keys/!r:x/s1?version=2", keyData); status != 404 || body["errcode"] != "M_NOT_FOUND" {
		t.Fatalf("keys after every version was deleted: %d %v", status, body)
	}
	// Version numbers go on increasing.
	if status, body := call("POST", "/room_keys/version", map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth}); status != 200 || body["version"] != "3" {
		t.Fatalf("a version after deleted ones: %d %v", status, body)
	}
}
