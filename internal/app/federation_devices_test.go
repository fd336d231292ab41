package app_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// Device lists, keys and to-device messages between two rohrpost servers
// (docs/decisions/0012), with plain HTTP clients; the end-to-end
// encrypted conversation itself is in federation_e2ee_test.go.

// roomAcross makes alice (hs1) create a room that bob (hs2) joins.
func roomAcross(t *testing.T, hs1, hs2 *apptest.Server) (alice, bob *mautrix.Client, room id.RoomID) {
	t.Helper()
	ctx := context.Background()
	alice, bob = hs1.Register(t, "alice"), hs2.Register(t, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatalf("bob joins over federation: %v", err)
	}
	waitForMembers(t, alice, created.RoomID, alice.UserID, bob.UserID)
	waitForMembers(t, bob, created.RoomID, alice.UserID, bob.UserID)
	return alice, bob, created.RoomID
}

// uploadTestKeys uploads device keys (unsigned: the servers do not check
// them) and one-time keys for cli's device.
func uploadTestKeys(t *testing.T, cli *mautrix.Client, otks ...string) {
	t.Helper()
	dev := cli.DeviceID.String()
	body := map[string]any{"device_keys": map[string]any{
		"user_id": cli.UserID, "device_id": dev, "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
		"keys":       map[string]string{"curve25519:" + dev: "curve-" + dev, "ed25519:" + dev: "ed-" + dev},
		"signatures": map[string]any{},
		// A field the signature would cover: it must reach other servers.
		"de.bund.extra": true,
	}}
	one := map[string]any{}
	for _, k := range otks {
		one["signed_curve25519:"+k] = map[string]any{"key": k, "signatures": map[string]any{}}
	}
	body["one_time_keys"] = one
	if status, resp := rawCall(t, cli, http.MethodPost, "/keys/upload", body); status != http.StatusOK {
		t.Fatalf("keys upload: %d %v", status, resp)
	}
}

// fedCall makes a signed request of from to to and decodes the answer.
func fedCall(t *testing.T, from, to *apptest.Server, method, path string, body, out any) error {
	t.Helper()
	req := fclient.NewFederationRequest(method, from.ServerName, to.ServerName, path)
	if body != nil {
		if err := req.SetContent(body); err != nil {
			t.Fatal(err)
		}
	}
	return peerClient(t, from).DoRequestAndParseResponse(context.Background(), mustRequest(t, req, from), out)
}

// The keys endpoints hs2 asks of hs1 about hs1's users.
func TestFederationServesDevicesAndKeys(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	alice := hs1.Register(t, "alice")
	name := "Dienst-Laptop"
	if err := alice.SetDeviceInfo(context.Background(), alice.DeviceID, &mautrix.ReqDeviceInfo{DisplayName: name}); err != nil {
		t.Fatal(err)
	}
	uploadTestKeys(t, alice, "AAAA")
	aliceID, dev := alice.UserID.String(), alice.DeviceID.String()

	var devices struct {
		UserID   string `json:"user_id"`
		StreamID int64  `json:"stream_id"`
		Devices  []struct {
			DeviceID    string          `json:"device_id"`
			DisplayName string          `json:"device_display_name"`
			Keys        json.RawMessage `json:"keys"`
		} `json:"devices"`
	}
	if err := fedCall(t, hs2, hs1, http.MethodGet, "/_matrix/federation/v1/user/devices/"+url.PathEscape(aliceID), nil, &devices); err != nil {
		t.Fatal(err)
	}
	if devices.UserID != aliceID || devices.StreamID <= 0 || len(devices.Devices) != 1 {
		t.Fatalf("devices: %+v", devices)
	}
	if d := devices.Devices[0]; d.DeviceID != dev || d.DisplayName != name || !json.Valid(d.Keys) || !jsonHas(d.Keys, "de.bund.extra") {
		t.Fatalf("device: %+v %s", d, d.Keys)
	}

	var query struct {
		DeviceKeys      map[string]map[string]json.RawMessage `json:"device_keys"`
		UserSigningKeys map[string]json.RawMessage            `json:"user_signing_keys"`
	}
	if err := fedCall(t, hs2, hs1, http.MethodPost, "/_matrix/federation/v1/user/keys/query",
		map[string]any{"device_keys": map[string][]string{aliceID: {}}}, &query); err != nil {
		t.Fatal(err)
	}
	if query.DeviceKeys[aliceID][dev] == nil || query.UserSigningKeys != nil {
		t.Fatalf("keys query: %+v", query)
	}

	claim := func() map[string]map[string]map[string]json.RawMessage {
		var out struct {
			OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
		}
		if err := fedCall(t, hs2, hs1, http.MethodPost, "/_matrix/federation/v1/user/keys/claim",
			map[string]any{"one_time_keys": map[string]map[string]string{aliceID: {dev: "signed_curve25519"}}}, &out); err != nil {
			t.Fatal(err)
		}
		return out.OneTimeKeys
	}
	if got := claim(); got[aliceID][dev]["signed_curve25519:AAAA"] == nil {
		t.Fatalf("first claim: %v", got)
	}
	if got := claim(); len(got[aliceID][dev]) != 0 {
		t.Fatalf("a one-time key went out twice: %v", got)
	}

	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		errcode            string
	}{
		{"devices of another server's user", http.MethodGet, "/_matrix/federation/v1/user/devices/" + url.PathEscape("@bob:"+string(hs2.ServerName)), nil, 400, "M_INVALID_PARAM"},
		{"devices of an unknown user", http.MethodGet, "/_matrix/federation/v1/user/devices/" + url.PathEscape("@nobody:"+string(hs1.ServerName)), nil, 404, "M_NOT_FOUND"},
		{"devices of no user id", http.MethodGet, "/_matrix/federation/v1/user/devices/alice", nil, 400, "M_INVALID_PARAM"},
		{"query for another server's user", http.MethodPost, "/_matrix/federation/v1/user/keys/query",
			map[string]any{"device_keys": map[string][]string{"@bob:" + string(hs2.ServerName): {}}}, 400, "M_INVALID_PARAM"},
		{"query without device_keys", http.MethodPost, "/_matrix/federation/v1/user/keys/query", map[string]any{}, 400, "M_BAD_JSON"},
		{"query with a bad device list", http.MethodPost, "/_matrix/federation/v1/user/keys/query", map[string]any{"device_keys": map[string]any{aliceID: "x"}}, 400, "M_BAD_JSON"},
		{"claim for another server's user", http.MethodPost, "/_matrix/federation/v1/user/keys/claim",
			map[string]any{"one_time_keys": map[string]any{"@bob:" + string(hs2.ServerName): map[string]string{"X": "signed_curve25519"}}}, 400, "M_INVALID_PARAM"},
		{"claim without one_time_keys", http.MethodPost, "/_matrix/federation/v1/user/keys/claim", map[string]any{}, 400, "M_BAD_JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, errcode := signedRequest(t, peerClient(t, hs2), hs2, hs1, tc.method, tc.path, tc.body)
			if status != tc.status || errcode != tc.errcode {
				t.Fatalf("got %d %s, want %d %s", status, errcode, tc.status, tc.errcode)
			}
		})
	}
}

func jsonHas(raw json.RawMessage, key string) bool {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	_, ok := m[key]
	return ok
}

// deviceListChanged waits until cli's /sync names user in
// device_lists.changed and returns the token after it.
func deviceListChanged(t *testing.T, cli *mautrix.Client, since string, user id.UserID) string {
	t.Helper()
	return syncUntil(t, cli, since, string(cli.UserID)+" hears of "+string(user)+"'s devices", func(resp *mautrix.RespSync) bool {
		return slices.Contains(resp.DeviceLists.Changed, user)
	})
}

// queryKeysOf is alice's /keys/query for users.
func queryKeysOf(t *testing.T, cli *mautrix.Client, users ...id.UserID) *mautrix.RespQueryKeys {
	t.Helper()
	req := &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{}, Timeout: 5000}
	for _, u := range users {
		req.DeviceKeys[u] = mautrix.DeviceIDList{}
	}
	resp, err := cli.QueryKeys(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// waitDevices polls alice's /keys/query until bob's devices are want.
func waitDevices(t *testing.T, cli *mautrix.Client, user id.UserID, want ...id.DeviceID) {
	t.Helper()
	slices.Sort(want)
	var got []id.DeviceID
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = got[:0]
		for d := range queryKeysOf(t, cli, user).DeviceKeys[user] {
			got = append(got, d)
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
	}
	t.Fatalf("%s sees %s's devices %v, want %v", cli.UserID, user, got, want)
}

// A remote user's new device, and a deleted one, show in device_lists and
// in /keys/query; an update that does not follow on what we hold makes
// hs1 fetch the list again instead of applying it.
func TestFederationDeviceListUpdates(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	alice, bob, _ := roomAcross(t, hs1, hs2)
	uploadTestKeys(t, bob, "B1", "B2")
	since := currentToken(t, alice)
	since = deviceListChanged(t, alice, since, bob.UserID)
	waitDevices(t, alice, bob.UserID, bob.DeviceID)

	// Claimed from hs2 through hs1.
	claimed, err := alice.ClaimKeys(context.Background(), &mautrix.ReqClaimKeys{
		OneTimeKeys: mautrix.OneTimeKeysRequest{bob.UserID: {bob.DeviceID: id.KeyAlgorithmSignedCurve25519}}, Timeout: 5000})
	if err != nil || len(claimed.OneTimeKeys[bob.UserID][bob.DeviceID]) != 1 {
		t.Fatalf("claim of bob's key: %+v %v", claimed, err)
	}

	bob2 := loginAgain(t, hs2, bob, "BOB2")
	uploadTestKeys(t, bob2)
	since = deviceListChanged(t, alice, since, bob.UserID)
	waitDevices(t, alice, bob.UserID, bob.DeviceID, "BOB2")

	// hs1 keeps bob's list and answers from it while hs2 is down.
	waitTracked(t, hs1, bob.UserID)
	// A new master key comes as m.signing_key_update.
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	master := base64.RawStdEncoding.EncodeToString(pub)
	if status, resp := rawCall(t, bob, http.MethodPost, "/keys/device_signing/upload", map[string]any{"master_key": map[string]any{
		"user_id": bob.UserID, "usage": []string{"master"}, "keys": map[string]string{"ed25519:" + master: master}}}); status != http.StatusOK {
		t.Fatalf("master key upload: %d %v", status, resp)
	}
	since = deviceListChanged(t, alice, since, bob.UserID)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, ok := queryKeysOf(t, alice, bob.UserID).MasterKeys[bob.UserID].Keys[id.NewKeyID(id.KeyAlgorithmEd25519, master)]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("alice does not see bob's master key")
		}
	}
	hs2.Stop(t)
	resp := queryKeysOf(t, alice, bob.UserID)
	if len(resp.DeviceKeys[bob.UserID]) != 2 || len(resp.Failures) != 0 || len(resp.MasterKeys[bob.UserID].Keys) != 1 {
		t.Fatalf("keys of bob while hs2 is down: %+v", resp)
	}
	hs2.Start(t)

	// hs2 announces a device after updates hs1 never saw: hs1 drops its
	// copy and fetches the list, which has no such device.
	ghost := map[string]any{"user_id": bob.UserID, "device_id": "GHOST", "stream_id": 1 << 40, "prev_id": []int64{1<<40 - 1},
		"keys": map[string]any{"user_id": bob.UserID, "device_id": "GHOST", "algorithms": []string{"x"}, "keys": map[string]string{"ed25519:GHOST": "g"}}}
	sendEDUs(t, hs2, hs1, "ghost", gomatrixserverlib.EDU{Type: spec.MDeviceListUpdate, Origin: string(hs2.ServerName), Content: jsonOf(t, ghost)})
	since = deviceListChanged(t, alice, since, bob.UserID)
	waitDevices(t, alice, bob.UserID, bob.DeviceID, "BOB2")
	// hs2's snapshot stays behind the stream id it announced; hs1 takes
	// it after a few tries, and keeps the list again.
	waitTracked(t, hs1, bob.UserID)

	if _, err := bob2.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	deviceListChanged(t, alice, since, bob.UserID)
	waitDevices(t, alice, bob.UserID, bob.DeviceID)

	// A server that cannot be reached is named in failures.
	unreachable := id.UserID("@nobody:127.0.0.1:1")
	resp = queryKeysOf(t, alice, unreachable, bob.UserID)
	if resp.Failures["127.0.0.1:1"] == nil || resp.DeviceKeys[bob.UserID][bob.DeviceID].DeviceID != bob.DeviceID {
		t.Fatalf("query with an unreachable server: %+v", resp)
	}
}

// waitTracked waits until srv keeps user's device list.
func waitTracked(t *testing.T, srv *apptest.Server, user id.UserID) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		heads, err := srv.App.Users.RemoteDeviceListHeads(context.Background(), []string{user.String()})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := heads[user.String()]; ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not keep %s's device list", srv.ServerName, user)
		}
	}
}

// currentToken is a sync token for cli from now on.
func currentToken(t *testing.T, cli *mautrix.Client) string {
	t.Helper()
	resp, err := cli.SyncRequest(context.Background(), 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	return resp.NextBatch
}

// sendEDUs sends a transaction of EDUs from one server to another.
func sendEDUs(t *testing.T, from, to *apptest.Server, txnID string, edus ...gomatrixserverlib.EDU) {
	t.Helper()
	txn := gomatrixserverlib.Transaction{TransactionID: gomatrixserverlib.TransactionID(txnID), Origin: from.ServerName,
		Destination: to.ServerName, OriginServerTS: spec.AsTimestamp(time.Now()), EDUs: edus}
	if _, err := peerClient(t, from).SendTransaction(context.Background(), txn); err != nil {
		t.Fatalf("send transaction: %v", err)
	}
}

// collectToDevice syncs cli's device until every body of want arrived,
// then twice more (whatever was delivered twice would come by then), and
// counts the to-device messages by body, acknowledging as it goes.
func collectToDevice(t *testing.T, cli *mautrix.Client, want ...string) map[string]int {
	t.Helper()
	counts, since, extra := map[string]int{}, "", 2
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && extra > 0; {
		resp, err := cli.SyncRequest(context.Background(), 500, since, "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		since = resp.NextBatch
		for _, b := range toDeviceBodies(resp) {
			counts[b]++
		}
		all := true
		for _, w := range want {
			all = all && counts[w] > 0
		}
		if all {
			extra--
		}
	}
	return counts
}

func jsonOf(t *testing.T, v any) spec.RawJSON {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// To-device messages to a remote user: one EDU per server, delivered to
// the named device or to all ("*"), once, also when the client retries
// its request or the sending server its transaction.
func TestFederationToDevice(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	alice := hs1.Register(t, "alice")
	bob := hs2.Register(t, "bob")
	phone := loginAgain(t, hs2, bob, "PHONE")
	msg := func(body string) map[string]any { return map[string]any{"body": body} }

	sendToDevice(t, alice, "t1", map[string]map[string]any{bob.UserID.String(): {bob.DeviceID.String(): msg("einmal")}})
	sendToDevice(t, alice, "t1", map[string]map[string]any{bob.UserID.String(): {bob.DeviceID.String(): msg("einmal")}}) // retried
	sendToDevice(t, alice, "t2", map[string]map[string]any{bob.UserID.String(): {"*": msg("alle")}})
	// hs2 retries with a new transaction: the message id makes it once.
	dup := gomatrixserverlib.EDU{Type: spec.MDirectToDevice, Origin: string(hs1.ServerName), Content: jsonOf(t, map[string]any{
		"sender": alice.UserID, "type": "de.bund.test", "message_id": "doppelt",
		"messages": map[string]any{bob.UserID.String(): map[string]any{bob.DeviceID.String(): msg("doppelt")}}})}
	sendEDUs(t, hs1, hs2, "d1", dup)
	sendEDUs(t, hs1, hs2, "d2", dup)
	// A sender of another server than the origin is refused.
	forged := gomatrixserverlib.EDU{Type: spec.MDirectToDevice, Origin: string(hs1.ServerName), Content: jsonOf(t, map[string]any{
		"sender": bob.UserID, "type": "de.bund.test", "message_id": "gefälscht",
		"messages": map[string]any{bob.UserID.String(): map[string]any{"*": msg("gefälscht")}}})}
	sendEDUs(t, hs1, hs2, "f1", forged)

	counts := collectToDevice(t, bob, "einmal", "alle", "doppelt")
	for _, body := range []string{"einmal", "alle", "doppelt"} {
		if counts[body] != 1 {
			t.Errorf("bob's first device received %q %d times, want once (%v)", body, counts[body], counts)
		}
	}
	if counts["gefälscht"] != 0 {
		t.Error("a message of a sender of another server than the origin was delivered")
	}
	if got := collectToDevice(t, phone, "alle"); got["alle"] != 1 || got["einmal"] != 0 {
		t.Errorf("bob's phone received %v", got)
	}
}

// A server outside the allow-list gets nothing of end-to-end encryption
// either way: no keys queried or claimed from it, no to-device messages
// sent to it, and its requests for our users' devices refused.
func TestFederationE2EEAllowList(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	hs1.App.Config.FederationDomainWhitelist = &[]string{"partner.example"}
	hs1.Restart(t)
	alice, bob := hs1.Register(t, "alice"), hs2.Register(t, "bob")
	uploadTestKeys(t, bob, "B1")
	refused := string(hs2.ServerName)

	resp := queryKeysOf(t, alice, bob.UserID)
	if f, ok := resp.Failures[refused].(map[string]any); !ok || f["status"] != float64(http.StatusForbidden) || len(resp.DeviceKeys[bob.UserID]) != 0 {
		t.Fatalf("keys query: %+v", resp)
	}
	claimed, err := alice.ClaimKeys(context.Background(), &mautrix.ReqClaimKeys{
		OneTimeKeys: mautrix.OneTimeKeysRequest{bob.UserID: {bob.DeviceID: id.KeyAlgorithmSignedCurve25519}}})
	if err != nil || claimed.Failures[refused] == nil || len(claimed.OneTimeKeys) != 0 {
		t.Fatalf("keys claim: %+v %v", claimed, err)
	}
	sendToDevice(t, alice, "t1", map[string]map[string]any{bob.UserID.String(): {"*": map[string]any{"body": "verboten"}}})
	if status, errcode := signedRequest(t, peerClient(t, hs2), hs2, hs1, http.MethodGet,
		"/_matrix/federation/v1/user/devices/"+url.PathEscape(alice.UserID.String()), nil); status != http.StatusForbidden || errcode != "M_FORBIDDEN" {
		t.Errorf("hs2 asks for alice's devices: %d %s", status, errcode)
	}
	time.Sleep(time.Second)
	if got, err := bob.SyncRequest(context.Background(), 0, "", "", false, ""); err != nil || len(got.ToDevice.Events) != 0 {
		t.Fatalf("bob received %v (%v)", toDeviceBodies(got), err)
	}
}
