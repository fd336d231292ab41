//go:build goolm

package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/goolm/account"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

const dehydratedPath = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"

// dehydratedAccount is the Olm account a client keeps (encrypted) in a
// dehydrated device: the test plays the client's part itself, since
// mautrix-go does not dehydrate devices.
type dehydratedAccount struct {
	acct     *account.Account
	deviceID string
	curve    id.Curve25519
	upload   map[string]any // the PUT /dehydrated_device body
}

// newDehydratedAccount makes an account with signed device keys and
// one-time keys; its device id is its Curve25519 key, as MSC3814 asks.
func newDehydratedAccount(t *testing.T, user id.UserID, otks uint) *dehydratedAccount {
	t.Helper()
	acct, err := account.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	ed, curve, err := acct.IdentityKeys()
	if err != nil {
		t.Fatal(err)
	}
	deviceID := string(curve)
	sign := func(obj map[string]any) map[string]any {
		canonical, err := gomatrixserverlib.CanonicalJSON(mustJSON(t, obj))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := acct.Sign(canonical)
		if err != nil {
			t.Fatal(err)
		}
		obj["signatures"] = map[string]any{user.String(): map[string]string{"ed25519:" + deviceID: string(sig)}}
		return obj
	}
	// Without MSC3814's "dehydrated": true, which mautrix-go's device
	// struct drops before it verifies the signature.
	deviceKeys := sign(map[string]any{"user_id": user.String(), "device_id": deviceID,
		"algorithms": []string{string(id.AlgorithmOlmV1), string(id.AlgorithmMegolmV1)},
		"keys":       map[string]string{"ed25519:" + deviceID: string(ed), "curve25519:" + deviceID: string(curve)}})
	if err := acct.GenOneTimeKeys(otks); err != nil {
		t.Fatal(err)
	}
	keys, _ := acct.OneTimeKeys()
	oneTime := map[string]any{}
	for keyID, key := range keys {
		oneTime["signed_curve25519:"+keyID] = sign(map[string]any{"key": string(key)})
	}
	acct.MarkKeysAsPublished()
	return &dehydratedAccount{acct: acct, deviceID: deviceID, curve: curve, upload: map[string]any{
		"device_id":                   deviceID,
		"device_data":                 map[string]any{"algorithm": "org.matrix.msc3814.v1.olm", "device_pickle": "ciphertext only the user's clients read"},
		"initial_device_display_name": "Dehydrated device",
		"device_keys":                 deviceKeys,
		"one_time_keys":               oneTime,
	}}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dehydratedCall calls path (relative to the client API root) with a JSON
// body, or raw bytes when body is []byte, and returns the status, the
// errcode of an error and the decoded answer.
func dehydratedCall(t *testing.T, cli *mautrix.Client, method, path string, body any) (int, string, map[string]any) {
	t.Helper()
	req := mautrix.FullRequest{Method: method, URL: cli.HomeserverURL.String() + path}
	var out map[string]any
	req.ResponseJSON = &out
	switch b := body.(type) {
	case nil:
	case []byte:
		req.RequestBytes = b
	default:
		req.RequestJSON = b
	}
	_, err := cli.MakeFullRequest(context.Background(), req)
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Response != nil {
		code := ""
		if httpErr.RespError != nil {
			code = httpErr.RespError.ErrCode
		}
		return httpErr.Response.StatusCode, code, out
	}
	if err != nil {
		t.Fatal(err)
	}
	return 200, "", out
}

func dehydratedEvents(t *testing.T, cli *mautrix.Client, deviceID string, nextBatch *string) ([]event.Event, string) {
	t.Helper()
	body := map[string]any{}
	if nextBatch != nil {
		body["next_batch"] = *nextBatch
	}
	var out struct {
		Events    []event.Event `json:"events"`
		NextBatch string        `json:"next_batch"`
	}
	_, err := cli.MakeRequest(context.Background(), "POST",
		cli.HomeserverURL.String()+dehydratedPath+"/"+url.PathEscape(deviceID)+"/events", body, &out)
	if err != nil {
		t.Fatalf("dehydrated device events: %v", err)
	}
	return out.Events, out.NextBatch
}

// Alice's only device with keys is her dehydrated one when Bob writes in
// their encrypted room. Bob's client (mautrix's crypto machine) shares the
// Megolm session with it; Alice logs in on a new device, fetches the
// dehydrated device's to-device messages, decrypts the room key with the
// dehydrated account and reads Bob's message with it.
func TestDehydratedDeviceReceivesRoomKeys(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := newE2EEClient(t, srv.Register(t, "bob"))

	dehydrated := newDehydratedAccount(t, alice.UserID, 5)
	if status, code, out := dehydratedCall(t, alice, "PUT", dehydratedPath, dehydrated.upload); status != 200 || out["device_id"] != dehydrated.deviceID {
		t.Fatalf("PUT dehydrated_device: %d %s %v", status, code, out)
	}
	status, _, got := dehydratedCall(t, alice, "GET", dehydratedPath, nil)
	if status != 200 || got["device_id"] != dehydrated.deviceID ||
		string(mustJSON(t, got["device_data"])) != string(mustJSON(t, dehydrated.upload["device_data"])) {
		t.Fatalf("GET dehydrated_device: %d %v", status, got)
	}

	room, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{alice.UserID},
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	bob.waitMember(t, room.RoomID, alice.UserID)
	sent, err := bob.SendText(ctx, room.RoomID, "Bitte bis Freitag mitzeichnen")
	if err != nil {
		t.Fatal(err)
	}

	// The rehydrating client: a new login of Alice's.
	alice2 := loginAgain(t, srv, alice, "ALICE2")
	var roomKey *event.Event
	var next string
	deadline := time.Now().Add(10 * time.Second)
	for roomKey == nil && time.Now().Before(deadline) {
		events, nb := dehydratedEvents(t, alice2, dehydrated.deviceID, nil)
		next = nb
		for i := range events {
			if events[i].Type.Type == event.ToDeviceEncrypted.Type && events[i].Sender == bob.UserID {
				events[i].Type = event.ToDeviceEncrypted
				roomKey = &events[i]
			}
		}
		if roomKey == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if roomKey == nil {
		t.Fatal("the dehydrated device got no encrypted to-device message from bob")
	}
	// The batch is not acknowledged by asking for the next one, and the
	// token after the last batch gives nothing more.
	if again, _ := dehydratedEvents(t, alice2, dehydrated.deviceID, nil); len(again) == 0 {
		t.Error("fetching again from the start returned nothing: the first batch was deleted")
	}
	if rest, after := dehydratedEvents(t, alice2, dehydrated.deviceID, &next); len(rest) != 0 || after != next {
		t.Errorf("after the last batch: %d events, next_batch %q (want none and %q)", len(rest), after, next)
	}

	// Olm: the room key, encrypted to the dehydrated device's identity key.
	if err := roomKey.Content.ParseRaw(roomKey.Type); err != nil {
		t.Fatal(err)
	}
	olmContent := roomKey.Content.AsEncrypted()
	ct, ok := olmContent.OlmCiphertext[dehydrated.curve]
	if !ok {
		t.Fatalf("the message is not encrypted for the dehydrated device: %v", olmContent.OlmCiphertext)
	}
	session, err := dehydrated.acct.NewInboundSessionFrom(&olmContent.SenderKey, ct.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := session.Decrypt(ct.Body, ct.Type)
	if err != nil {
		t.Fatal(err)
	}
	var decrypted struct {
		Type    string `json:"type"`
		Content struct {
			RoomID     id.RoomID    `json:"room_id"`
			SessionID  id.SessionID `json:"session_id"`
			SessionKey string       `json:"session_key"`
		} `json:"content"`
	}
	if err := json.Unmarshal(plain, &decrypted); err != nil || decrypted.Type != "m.room_key" || decrypted.Content.RoomID != room.RoomID {
		t.Fatalf("decrypted to-device message: %s (%v)", plain, err)
	}

	// Megolm: Bob's message with that room key.
	msg, err := alice2.GetEvent(ctx, room.RoomID, sent.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if err := msg.Content.ParseRaw(msg.Type); err != nil {
		t.Fatal(err)
	}
	megolm := msg.Content.AsEncrypted()
	if megolm.SessionID != decrypted.Content.SessionID {
		t.Fatalf("the message uses session %s, the dehydrated device got %s", megolm.SessionID, decrypted.Content.SessionID)
	}
	igs, err := olm.NewInboundGroupSession([]byte(decrypted.Content.SessionKey))
	if err != nil {
		t.Fatal(err)
	}
	clear, _, err := igs.Decrypt(megolm.MegolmCiphertext)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Content struct {
			Body string `json:"body"`
		} `json:"content"`
	}
	if err := json.Unmarshal(clear, &body); err != nil || body.Content.Body != "Bitte bis Freitag mitzeichnen" {
		t.Fatalf("decrypted message: %s (%v)", clear, err)
	}
}

// Replacing and deleting the dehydrated device: the old one's keys and
// messages go with it, another device id is refused, and the new device
// is what other users see in /keys/query.
func TestDehydratedDeviceReplaceAndDelete(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")

	first := newDehydratedAccount(t, alice.UserID, 2)
	if status, code, _ := dehydratedCall(t, alice, "PUT", dehydratedPath, first.upload); status != 200 {
		t.Fatalf("PUT: %d %s", status, code)
	}
	if _, err := bob.SendToDevice(ctx, event.ToDeviceRoomKeyRequest, &mautrix.ReqSendToDevice{Messages: map[id.UserID]map[id.DeviceID]*event.Content{
		alice.UserID: {id.DeviceID(first.deviceID): {Raw: map[string]any{"for": "the first"}}}}}); err != nil {
		t.Fatal(err)
	}
	if events, _ := dehydratedEvents(t, alice, first.deviceID, nil); len(events) != 1 {
		t.Fatalf("the first dehydrated device has %d messages, want 1", len(events))
	}

	second := newDehydratedAccount(t, alice.UserID, 2)
	if status, code, _ := dehydratedCall(t, alice, "PUT", dehydratedPath, second.upload); status != 200 {
		t.Fatalf("PUT again: %d %s", status, code)
	}
	if status, code, _ := dehydratedCall(t, alice, "POST", dehydratedPath+"/"+url.PathEscape(first.deviceID)+"/events", map[string]any{}); status != 403 || code != "M_FORBIDDEN" {
		t.Errorf("events of the replaced device: %d %s, want 403 M_FORBIDDEN", status, code)
	}
	if events, _ := dehydratedEvents(t, alice, second.deviceID, nil); len(events) != 0 {
		t.Errorf("the new dehydrated device inherited %d messages", len(events))
	}
	keys, err := bob.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{alice.UserID: nil}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := keys.DeviceKeys[alice.UserID][id.DeviceID(second.deviceID)]; !ok {
		t.Errorf("/keys/query lacks the new dehydrated device: %v", keys.DeviceKeys[alice.UserID])
	}
	if _, ok := keys.DeviceKeys[alice.UserID][id.DeviceID(first.deviceID)]; ok {
		t.Error("/keys/query still lists the replaced dehydrated device")
	}

	if status, _, out := dehydratedCall(t, alice, "DELETE", dehydratedPath, nil); status != 200 || out["device_id"] != second.deviceID {
		t.Fatalf("DELETE: %d %v", status, out)
	}
	for _, method := range []string{"GET", "DELETE"} {
		if status, code, _ := dehydratedCall(t, alice, method, dehydratedPath, nil); status != 404 || code != "M_NOT_FOUND" {
			t.Errorf("%s after DELETE: %d %s, want 404 M_NOT_FOUND", method, status, code)
		}
	}
	devices, err := alice.GetDevicesInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devices.Devices {
		if string(d.DeviceID) == second.deviceID || string(d.DeviceID) == first.deviceID {
			t.Errorf("a deleted dehydrated device is still listed: %s", d.DeviceID)
		}
	}

	// Logging out everywhere takes the dehydrated device too.
	third := newDehydratedAccount(t, alice.UserID, 1)
	if status, code, _ := dehydratedCall(t, alice, "PUT", dehydratedPath, third.upload); status != 200 {
		t.Fatalf("PUT a third: %d %s", status, code)
	}
	other := loginAgain(t, srv, alice, "OTHER")
	if _, err := other.LogoutAll(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := loginAgain(t, srv, alice, "FRESH")
	if status, code, _ := dehydratedCall(t, fresh, "GET", dehydratedPath, nil); status != 404 || code != "M_NOT_FOUND" {
		t.Errorf("GET after logout/all: %d %s, want 404 M_NOT_FOUND", status, code)
	}
}

// Bad requests get the spec's errors, never a 500.
func TestDehydratedDeviceBadInput(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	good := newDehydratedAccount(t, alice.UserID, 1)
	with := func(key string, v any) map[string]any {
		body := map[string]any{}
		for k, val := range good.upload {
			body[k] = val
		}
		if v == nil {
			delete(body, key)
		} else {
			body[key] = v
		}
		return body
	}
	loggedIn := with("device_keys", nil)
	loggedIn["device_id"] = string(alice.DeviceID)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"not JSON", []byte("{"), 400, "M_NOT_JSON"},
		{"no device_data", with("device_data", nil), 400, "M_BAD_JSON"},
		{"device_data not an object", with("device_data", "pickle"), 400, "M_BAD_JSON"},
		{"device_data without algorithm", with("device_data", map[string]any{"device_pickle": "x"}), 400, "M_BAD_JSON"},
		{"no device_id", with("device_id", nil), 400, "M_BAD_JSON"},
		{"keys of another device", with("device_id", "SOMEOTHER"), 400, "M_BAD_JSON"},
		{"a logged-in device's id", loggedIn, 400, "M_INVALID_PARAM"},
		{"bad one-time key", with("one_time_keys", map[string]any{"nocolon": "k"}), 400, "M_BAD_JSON"},
	} {
		if status, code, _ := dehydratedCall(t, alice, "PUT", dehydratedPath, tc.body); status != tc.status || code != tc.code {
			t.Errorf("PUT %s: %d %s, want %d %s", tc.name, status, code, tc.status, tc.code)
		}
	}
	// Nothing was stored by the refused requests.
	if status, code, _ := dehydratedCall(t, alice, "GET", dehydratedPath, nil); status != 404 || code != "M_NOT_FOUND" {
		t.Fatalf("GET after refused PUTs: %d %s", status, code)
	}
	if status, code, _ := dehydratedCall(t, alice, "PUT", dehydratedPath, good.upload); status != 200 {
		t.Fatalf("PUT: %d %s", status, code)
	}
	events := dehydratedPath + "/" + url.PathEscape(good.deviceID) + "/events"
	for _, tc := range []struct {
		name   string
		cli    *mautrix.Client
		path   string
		body   any
		status int
		code   string
	}{
		{"garbage next_batch", alice, events, map[string]any{"next_batch": "s12_x"}, 400, "M_INVALID_PARAM"},
		{"negative next_batch", alice, events, map[string]any{"next_batch": "-1"}, 400, "M_INVALID_PARAM"},
		{"not JSON", alice, events, []byte("[nope"), 400, "M_NOT_JSON"},
		{"a logged-in device", alice, dehydratedPath + "/" + url.PathEscape(string(alice.DeviceID)) + "/events", map[string]any{}, 403, "M_FORBIDDEN"},
		{"another user's dehydrated device", bob, events, map[string]any{}, 403, "M_FORBIDDEN"},
		{"empty body", alice, events, []byte(""), 200, ""},
	} {
		if status, code, _ := dehydratedCall(t, tc.cli, "POST", tc.path, tc.body); status != tc.status || code != tc.code {
			t.Errorf("POST events, %s: %d %s, want %d %s", tc.name, status, code, tc.status, tc.code)
		}
	}
	// Alice's dehydrated device is hers alone.
	if status, _, _ := dehydratedCall(t, bob, "GET", dehydratedPath, nil); status != 404 {
		t.Errorf("bob sees a dehydrated device: %d", status)
	}
}
