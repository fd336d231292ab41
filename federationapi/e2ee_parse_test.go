package federationapi

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

const e2eeOrigin = spec.ServerName("remote.test")

func e2eeIsLocal(name spec.ServerName) bool { return name == "ours.test" }

const (
	goodKeys   = `{"user_id":"@bob:remote.test","device_id":"PHONE","algorithms":["m.olm.v1.curve25519-aes-sha2"],"keys":{"ed25519:PHONE":"x"},"signatures":{}}`
	goodMaster = `{"user_id":"@bob:remote.test","usage":["master"],"keys":{"ed25519:abc":"abc"}}`
	goodSelf   = `{"user_id":"@bob:remote.test","usage":["self_signing"],"keys":{"ed25519:def":"def"}}`
)

func TestParseDeviceListUpdate(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		ok, keys      bool
	}{
		{"new device with keys", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":7,"prev_id":[5],"device_display_name":"Telefon","keys":` + goodKeys + `}`, true, true},
		{"first of a sequence", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":1}`, true, false},
		{"deleted", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":9,"prev_id":[7],"deleted":true}`, true, false},
		{"user of another server", `{"user_id":"@bob:elsewhere.test","device_id":"PHONE","stream_id":7}`, false, false},
		{"no user", `{"device_id":"PHONE","stream_id":7}`, false, false},
		{"no device", `{"user_id":"@bob:remote.test","stream_id":7}`, false, false},
		{"zero stream id", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":0}`, false, false},
		{"negative stream id", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":-3}`, false, false},
		{"fractional stream id", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":1.5}`, false, false},
		{"stream id as string", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":"7"}`, false, false},
		{"prev_id not a list", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":7,"prev_id":5}`, false, false},
		{"keys of another device: the device without keys", `{"user_id":"@bob:remote.test","device_id":"LAPTOP","stream_id":7,"keys":` + goodKeys + `}`, true, false},
		{"keys not an object: the device without keys", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":7,"keys":"x"}`, true, false},
		{"keys as sent, however incomplete", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":7,"keys":{"device_keys":{}}}`, true, true},
		{"display name not a string", `{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":7,"device_display_name":1}`, false, false},
		{"not an object", `[1,2]`, false, false},
		{"null", `null`, false, false},
		{"empty", ``, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := parseDeviceListUpdate(e2eeOrigin, []byte(tc.content))
			if (err == nil) != tc.ok {
				t.Fatalf("got %+v, %v; want ok=%v", u, err, tc.ok)
			}
			if err != nil && !errors.Is(err, errBadE2EEEDU) {
				t.Errorf("error %v is not errBadE2EEEDU", err)
			}
			if err == nil && (u.Device.Keys != nil) != tc.keys {
				t.Errorf("keys kept: %s, want kept=%v", u.Device.Keys, tc.keys)
			}
		})
	}
}

func TestParseSigningKeyUpdate(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		ok            bool
	}{
		{"both keys", `{"user_id":"@bob:remote.test","master_key":` + goodMaster + `,"self_signing_key":` + goodSelf + `}`, true},
		{"master only", `{"user_id":"@bob:remote.test","master_key":` + goodMaster + `}`, true},
		{"no keys", `{"user_id":"@bob:remote.test"}`, false},
		{"user of another server", `{"user_id":"@bob:elsewhere.test","master_key":` + goodMaster + `}`, false},
		{"master key with the wrong usage", `{"user_id":"@bob:remote.test","master_key":` + goodSelf + `}`, false},
		{"key of another user", `{"user_id":"@carol:remote.test","master_key":` + goodMaster + `}`, false},
		{"key not an object", `{"user_id":"@bob:remote.test","master_key":[]}`, false},
		{"not an object", `"x"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if u, err := parseSigningKeyUpdate(e2eeOrigin, []byte(tc.content)); (err == nil) != tc.ok {
				t.Fatalf("got %+v, %v; want ok=%v", u, err, tc.ok)
			}
		})
	}
}

func TestParseDirectToDevice(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		ok            bool
		// kept is how many local users keep messages.
		kept int
	}{
		{"one device", `{"sender":"@bob:remote.test","type":"m.room_key_request","message_id":"m1","messages":{"@alice:ours.test":{"PHONE":{"a":1}}}}`, true, 1},
		{"all devices", `{"sender":"@bob:remote.test","type":"m.room.encrypted","message_id":"m1","messages":{"@alice:ours.test":{"*":{}}}}`, true, 1},
		{"users of other servers left out", `{"sender":"@bob:remote.test","type":"t","message_id":"m1","messages":{"@carol:elsewhere.test":{"X":{}},"@alice:ours.test":{"X":{}}}}`, true, 1},
		{"nothing for us", `{"sender":"@bob:remote.test","type":"t","message_id":"m1","messages":{"@carol:elsewhere.test":{"X":{}}}}`, true, 0},
		{"sender of another server", `{"sender":"@bob:elsewhere.test","type":"t","message_id":"m1","messages":{}}`, false, 0},
		{"no message id", `{"sender":"@bob:remote.test","type":"t","messages":{}}`, false, 0},
		{"no type", `{"sender":"@bob:remote.test","message_id":"m1","messages":{}}`, false, 0},
		{"content not an object", `{"sender":"@bob:remote.test","type":"t","message_id":"m1","messages":{"@alice:ours.test":{"X":"hello"}}}`, false, 0},
		{"messages not an object", `{"sender":"@bob:remote.test","type":"t","message_id":"m1","messages":[]}`, false, 0},
		{"empty device id", `{"sender":"@bob:remote.test","type":"t","message_id":"m1","messages":{"@alice:ours.test":{"":{}}}}`, false, 0},
		{"bad user id skipped", `{"sender":"@bob:remote.test","type":"t","message_id":"m1","messages":{"alice":{"X":{}}}}`, true, 0},
		{"not an object", `17`, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseDirectToDevice(e2eeOrigin, []byte(tc.content), e2eeIsLocal)
			if (err == nil) != tc.ok {
				t.Fatalf("got %+v, %v; want ok=%v", m, err, tc.ok)
			}
			if err == nil && len(m.Messages) != tc.kept {
				t.Fatalf("kept %v, want %d users", m.Messages, tc.kept)
			}
		})
	}
}

func TestCheckUserDevices(t *testing.T) {
	bob := spec.NewUserIDOrPanic("@bob:remote.test", true)
	for _, tc := range []struct {
		name, answer string
		ok           bool
		devices      int
	}{
		{"devices and keys", `{"user_id":"@bob:remote.test","stream_id":4,"devices":[{"device_id":"PHONE","keys":` + goodKeys +
			`,"device_display_name":"Telefon"},{"device_id":"NOKEYS"}],"master_key":` + goodMaster + `,"self_signing_key":` + goodSelf + `}`, true, 2},
		{"keys of another device left out, the device kept", `{"user_id":"@bob:remote.test","stream_id":4,"devices":[{"device_id":"LAPTOP","keys":` + goodKeys + `}]}`, true, 1},
		{"incomplete keys kept as sent", `{"user_id":"@bob:remote.test","stream_id":1,"devices":[{"device_id":"A","keys":{"device_keys":{}}},{"device_id":"B","keys":{"device_keys":{}}}]}`, true, 2},
		{"another user", `{"user_id":"@carol:remote.test","stream_id":4,"devices":[]}`, false, 0},
		{"negative stream id", `{"user_id":"@bob:remote.test","stream_id":-1,"devices":[]}`, false, 0},
		{"master key of another usage", `{"user_id":"@bob:remote.test","stream_id":4,"devices":[],"master_key":` + goodSelf + `}`, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got userDevicesAnswer
			if err := json.Unmarshal([]byte(tc.answer), &got); err != nil {
				t.Fatal(err)
			}
			list, err := checkUserDevices(bob, &got)
			if (err == nil) != tc.ok {
				t.Fatalf("got %+v, %v; want ok=%v", list, err, tc.ok)
			}
			if err == nil && len(list.Devices) != tc.devices {
				t.Fatalf("kept %d devices, want %d", len(list.Devices), tc.devices)
			}
		})
	}
}

// FuzzE2EEParsers feeds the same bytes to the three parsers: none may
// panic, and what one accepts names only users of the origin.
func FuzzE2EEParsers(f *testing.F) {
	for _, seed := range []string{
		`{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":7,"prev_id":[5],"keys":` + goodKeys + `}`,
		`{"user_id":"@bob:remote.test","device_id":"PHONE","stream_id":9,"deleted":true}`,
		`{"user_id":"@bob:remote.test","master_key":` + goodMaster + `,"self_signing_key":` + goodSelf + `}`,
		`{"sender":"@bob:remote.test","type":"t","message_id":"m1","messages":{"@alice:ours.test":{"*":{}}}}`,
		`{"user_id":"@bob:elsewhere.test","device_id":"X","stream_id":1}`,
		`{"stream_id":1e400}`, `{"prev_id":[1,"2"]}`, `null`, `[]`, `{}`, `""`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		if u, err := parseDeviceListUpdate(e2eeOrigin, content); err == nil {
			if u.UserID.Domain() != e2eeOrigin || u.StreamID <= 0 || u.Device.DeviceID == "" {
				t.Fatalf("accepted %+v", u)
			}
			if u.Device.Keys != nil && checkDeviceKeys(u.UserID, u.Device.DeviceID, u.Device.Keys) != nil {
				t.Fatalf("accepted keys %s", u.Device.Keys)
			}
		}
		if u, err := parseSigningKeyUpdate(e2eeOrigin, content); err == nil {
			if u.UserID.Domain() != e2eeOrigin || (u.MasterKey == nil && u.SelfSigningKey == nil) {
				t.Fatalf("accepted %+v", u)
			}
		}
		if m, err := parseDirectToDevice(e2eeOrigin, content, e2eeIsLocal); err == nil {
			if s, err := spec.NewUserID(m.Sender, true); err != nil || s.Domain() != e2eeOrigin || m.MessageID == "" {
				t.Fatalf("accepted %+v", m)
			}
			for user, devices := range m.Messages {
				u, err := spec.NewUserID(user, true)
				if err != nil || !e2eeIsLocal(u.Domain()) {
					t.Fatalf("kept messages for %q", user)
				}
				for d, msg := range devices {
					if d == "" || !isObject(msg) {
						t.Fatalf("kept message %q for %q", msg, d)
					}
				}
			}
		}
	})
}
