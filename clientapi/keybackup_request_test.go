package clientapi

import (
	"errors"
	"testing"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

func TestParseBackupKeys(t *testing.T) {
	const key = `{"first_message_index":1,"forwarded_count":0,"is_verified":false,"session_data":{"ciphertext":"x"}}`
	tests := []struct {
		name          string
		body          string
		room, session string
		code          string // "" for success
		keys          int
	}{
		{"one session", key, "!r:x", "s1", "", 1},
		{"opaque session data", `{"first_message_index":0,"forwarded_count":0,"is_verified":true,"session_data":"opaque"}`, "!r:x", "s1", "", 1},
		{"a room", `{"sessions":{"s1":` + key + `,"s2":` + key + `}}`, "!r:x", "", "", 2},
		{"a room without sessions", `{"sessions":{}}`, "!r:x", "", "", 0},
		{"all rooms", `{"rooms":{"!r:x":{"sessions":{"s1":` + key + `}},"!q:x":{"sessions":{"s1":` + key + `}}}}`, "", "", "", 2},
		{"a room of all without sessions", `{"rooms":{"!r:x":{}}}`, "", "", "", 0},
		{"not JSON", `key`, "!r:x", "s1", "M_NOT_JSON", 0},
		{"an array", `[]`, "", "", "M_BAD_JSON", 0},
		{"missing session_data", `{"first_message_index":1,"forwarded_count":0,"is_verified":false}`, "!r:x", "s1", "M_BAD_JSON", 0},
		{"null session_data", `{"first_message_index":1,"forwarded_count":0,"is_verified":false,"session_data":null}`, "!r:x", "s1", "M_BAD_JSON", 0},
		{"missing is_verified", `{"first_message_index":1,"forwarded_count":0,"session_data":{}}`, "!r:x", "s1", "M_BAD_JSON", 0},
		{"negative index", `{"first_message_index":-1,"forwarded_count":0,"is_verified":false,"session_data":{}}`, "!r:x", "s1", "M_BAD_JSON", 0},
		{"negative forwards", `{"first_message_index":0,"forwarded_count":-2,"is_verified":false,"session_data":{}}`, "!r:x", "s1", "M_BAD_JSON", 0},
		{"fractional index", `{"first_message_index":1.5,"forwarded_count":0,"is_verified":false,"session_data":{}}`, "!r:x", "s1", "M_BAD_JSON", 0},
		{"is_verified a string", `{"first_message_index":1,"forwarded_count":0,"is_verified":"yes","session_data":{}}`, "!r:x", "s1", "M_BAD_JSON", 0},
		{"a room without the sessions key", `{}`, "!r:x", "", "M_BAD_JSON", 0},
		{"all rooms without the rooms key", `{}`, "", "", "M_BAD_JSON", 0},
		{"sessions an array", `{"sessions":[]}`, "!r:x", "", "M_BAD_JSON", 0},
		{"an empty session id", `{"sessions":{"":` + key + `}}`, "!r:x", "", "M_BAD_JSON", 0},
		{"an empty room id", `{"rooms":{"":{"sessions":{"s":` + key + `}}}}`, "", "", "M_BAD_JSON", 0},
		{"a bad key among good ones", `{"sessions":{"s1":` + key + `,"s2":{}}}`, "!r:x", "", "M_BAD_JSON", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := parseBackupKeys([]byte(tc.body), tc.room, tc.session)
			checkParse(t, err, tc.code)
			if tc.code == "" && len(keys) != tc.keys {
				t.Fatalf("%d keys, want %d", len(keys), tc.keys)
			}
		})
	}
}

func TestParseBackupVersion(t *testing.T) {
	tests := []struct {
		name, body, path string
		code             string
	}{
		{"create", `{"algorithm":"m.megolm_backup.v1.curve25519-aes-sha2","auth_data":{"public_key":"abc"}}`, "", ""},
		{"opaque auth_data", `{"algorithm":"m.megolm_backup.v1","auth_data":"opaque"}`, "", ""},
		{"update naming its version", `{"algorithm":"a","auth_data":{},"version":"3"}`, "3", ""},
		{"update naming its version as a number", `{"algorithm":"a","auth_data":{},"version":3}`, "3", ""},
		{"update without a version", `{"algorithm":"a","auth_data":{}}`, "3", ""},
		{"update naming another version", `{"algorithm":"a","auth_data":{},"version":"4"}`, "3", "M_INVALID_PARAM"},
		{"version an object", `{"algorithm":"a","auth_data":{},"version":{}}`, "3", "M_BAD_JSON"},
		{"no algorithm", `{"auth_data":{}}`, "", "M_BAD_JSON"},
		{"no auth_data", `{"algorithm":"a"}`, "", "M_BAD_JSON"},
		{"null auth_data", `{"algorithm":"a","auth_data":null}`, "", "M_BAD_JSON"},
		{"algorithm a number", `{"algorithm":1,"auth_data":{}}`, "", "M_BAD_JSON"},
		{"not JSON", `{`, "", "M_NOT_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseBackupVersion([]byte(tc.body), tc.path)
			checkParse(t, err, tc.code)
		})
	}
}

func checkParse(t *testing.T, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("error %v", err)
		}
		return
	}
	var me *mxhttp.Error
	if !errors.As(err, &me) || me.Code != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}

// FuzzParseBackupKeys: any body at any granularity is refused with a
// client error or read into complete keys.
func FuzzParseBackupKeys(f *testing.F) {
	const key = `{"first_message_index":1,"forwarded_count":0,"is_verified":false,"session_data":{"ciphertext":"x"}}`
	for _, s := range []string{key, `{"sessions":{"s1":` + key + `}}`, `{"rooms":{"!r:x":{"sessions":{"s1":` + key + `}}}}`,
		`{}`, `[]`, `{"rooms":null}`, `{"first_message_index":-1}`} {
		for _, granularity := range []uint8{0, 1, 2} {
			f.Add([]byte(s), granularity)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, granularity uint8) {
		room, session := "", ""
		switch granularity % 3 {
		case 1:
			room = "!r:x"
		case 2:
			room, session = "!r:x", "s"
		}
		keys, err := parseBackupKeys(body, room, session)
		if err != nil {
			var me *mxhttp.Error
			if !errors.As(err, &me) || me.Status/100 != 4 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		for _, k := range keys {
			if k.RoomID == "" || k.SessionID == "" || k.FirstMessageIndex < 0 || k.ForwardedCount < 0 ||
				len(k.SessionData) == 0 || string(k.SessionData) == "null" {
				t.Fatalf("incomplete key %+v", k)
			}
			if room != "" && k.RoomID != room || session != "" && k.SessionID != session {
				t.Fatalf("key %+v outside the path's room %q / session %q", k, room, session)
			}
		}
	})
}

// FuzzParseBackupVersion: any body is refused with a client error or has
// an algorithm and auth_data.
func FuzzParseBackupVersion(f *testing.F) {
	for _, s := range []string{`{"algorithm":"a","auth_data":{}}`, `{"algorithm":"a","auth_data":{},"version":"1"}`,
		`{"algorithm":"a","auth_data":{},"version":1e2}`, `{"version":null}`, `[]`} {
		f.Add([]byte(s), "1")
		f.Add([]byte(s), "")
	}
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		b, err := parseBackupVersion(body, path)
		if err != nil {
			var me *mxhttp.Error
			if !errors.As(err, &me) || me.Status/100 != 4 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		if b.Algorithm == "" || len(b.AuthData) == 0 {
			t.Fatalf("accepted %+v", b)
		}
	})
}
