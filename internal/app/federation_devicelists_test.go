package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// Remote device lists as clients see them (docs/decisions/0012): one
// change of a remote user's devices is one device_lists.changed, and a
// device is listed with whatever keys its user's server gave it.

// A remote user's first device keys reach hs1 as an update of a list hs1
// does not hold; hs1 fetches the list and tells alice once, when its
// cache can answer her. (It used to tell her at the update and again when
// the snapshot landed: a client, or SyTest's "Device deletion propagates
// over federation", took the second notice for the next change.)
func TestFederationDeviceListChangeToldOnce(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	alice, bob, _ := roomAcross(t, hs1, hs2)
	since := currentToken(t, alice)

	uploadTestKeys(t, bob)
	since = deviceListChanged(t, alice, since, bob.UserID)
	// Told when the list is cached: the answer comes from hs1's cache.
	if heads, err := hs1.App.Users.RemoteDeviceListHeads(context.Background(), []string{bob.UserID.String()}); err != nil || len(heads) != 1 {
		t.Fatalf("alice was told before hs1 kept bob's list: %v %v", heads, err)
	}
	noFurtherNotice(t, alice, since, bob.UserID)
	waitDevices(t, alice, bob.UserID, bob.DeviceID)

	// A following change is applied to the cache and told once as well.
	if status, resp := rawCall(t, bob, http.MethodPut, "/devices/"+bob.DeviceID.String(), map[string]any{"display_name": "Diensttelefon"}); status != http.StatusOK {
		t.Fatalf("rename: %d %v", status, resp)
	}
	since = deviceListChanged(t, alice, since, bob.UserID)
	noFurtherNotice(t, alice, since, bob.UserID)
	if name := queryKeysOf(t, alice, bob.UserID).DeviceKeys[bob.UserID][bob.DeviceID].Unsigned["device_display_name"]; name != "Diensttelefon" {
		t.Fatalf("bob's device is named %v", name)
	}
}

// noFurtherNotice syncs for a while and fails if user shows up in
// device_lists.changed again.
func noFurtherNotice(t *testing.T, cli *mautrix.Client, since string, user id.UserID) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		resp, err := cli.SyncRequest(context.Background(), 500, since, "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		since = resp.NextBatch
		if slices.Contains(resp.DeviceLists.Changed, user) {
			t.Fatalf("%s is told of %s's devices a second time", cli.UserID, user)
		}
	}
}

// The user's server speaks for the user's devices: a device whose keys
// lack fields DeviceKeys has (or that are no keys at all) is still the
// user's device, kept with its keys as sent and its name, and the update
// is applied rather than answered with a fetch of the whole list (which
// would only bring the same keys). Keys that name another device are not
// kept: the device is listed in the cache without them.
func TestFederationDeviceListUpdateWithIncompleteKeys(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	alice, bob, _ := roomAcross(t, hs1, hs2)
	uploadTestKeys(t, bob)
	since := currentToken(t, alice)
	since = deviceListChanged(t, alice, since, bob.UserID)
	waitTracked(t, hs1, bob.UserID)
	heads, err := hs1.App.Users.RemoteDeviceListHeads(context.Background(), []string{bob.UserID.String()})
	if err != nil {
		t.Fatal(err)
	}
	stream := heads[bob.UserID.String()].StreamID

	update := func(txn string, device string, keys any) {
		t.Helper()
		stream++
		content := map[string]any{"user_id": bob.UserID, "device_id": device, "stream_id": stream, "prev_id": []int64{stream - 1},
			"device_display_name": "Name of " + device, "keys": keys}
		sendEDUs(t, hs2, hs1, txn, gomatrixserverlib.EDU{Type: spec.MDeviceListUpdate, Origin: string(hs2.ServerName), Content: jsonOf(t, content)})
		since = deviceListChanged(t, alice, since, bob.UserID)
	}
	update("odd", "ODD", map[string]any{"device_keys": map[string]any{}})
	update("other", "OTHER", map[string]any{"user_id": bob.UserID, "device_id": "SOMEONE_ELSE", "algorithms": []string{"x"},
		"keys": map[string]string{"ed25519:SOMEONE_ELSE": "k"}})

	// hs1 applied both (its cache is at the last stream id, not fetched
	// again from hs2, which knows neither device).
	heads, err = hs1.App.Users.RemoteDeviceListHeads(context.Background(), []string{bob.UserID.String()})
	if err != nil || heads[bob.UserID.String()].StreamID != stream {
		t.Fatalf("hs1's list of bob: %v %v, want stream id %d", heads, err, stream)
	}
	var raw struct {
		DeviceKeys map[string]map[string]map[string]json.RawMessage `json:"device_keys"`
	}
	status, body := rawCall(t, alice, http.MethodPost, "/keys/query", map[string]any{"device_keys": map[string]any{bob.UserID.String(): []string{}}})
	if status != http.StatusOK {
		t.Fatalf("keys query: %d %v", status, body)
	}
	b, _ := json.Marshal(body)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	devices := raw.DeviceKeys[bob.UserID.String()]
	odd, ok := devices["ODD"]
	if !ok || string(odd["device_keys"]) != "{}" || string(odd["unsigned"]) != `{"device_display_name":"Name of ODD"}` {
		t.Fatalf("ODD as alice sees it: %v (all: %v)", odd, devices)
	}
	if _, ok := devices["OTHER"]; ok {
		t.Fatalf("keys naming another device are shown: %v", devices["OTHER"])
	}
	if _, ok := devices[bob.DeviceID.String()]; !ok {
		t.Fatalf("bob's real device is gone: %v", devices)
	}
}

// device_lists carries only the lists that have someone: a sync that
// tells alice to forget bob (left) has no empty "changed" that a client
// could take for "nobody's devices changed" (SyTest's "If remote user
// leaves room we no longer receive device updates" reads it so, and
// Synapse leaves an empty list out as well), and the other way round.
func TestSyncDeviceListsOmitEmptyLists(t *testing.T) {
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
	since := currentToken(t, alice)

	deviceLists := func(what string) map[string]any {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			status, body := rawCall(t, alice, http.MethodGet, "/sync?timeout=1000&since="+since, nil)
			if status != http.StatusOK {
				t.Fatalf("sync: %d %v", status, body)
			}
			since, _ = body["next_batch"].(string)
			if dl, ok := body["device_lists"].(map[string]any); ok {
				return dl
			}
		}
		t.Fatalf("no device_lists for %s", what)
		return nil
	}
	uploadTestKeys(t, bob)
	dl := deviceLists("bob's keys")
	if _, ok := dl["left"]; ok || fmt.Sprint(dl["changed"]) != "["+bob.UserID.String()+"]" {
		t.Fatalf("device_lists after bob's keys: %v", dl)
	}
	if _, err := bob.LeaveRoom(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	dl = deviceLists("bob's leave")
	if _, ok := dl["changed"]; ok || fmt.Sprint(dl["left"]) != "["+bob.UserID.String()+"]" {
		t.Fatalf("device_lists after bob left: %v", dl)
	}
}
