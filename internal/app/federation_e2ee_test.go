//go:build goolm

package app_test

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// End-to-end encryption across two rohrpost servers with mautrix's crypto
// machine: keys are queried and claimed through the users' own servers,
// room keys travel as to-device messages between the servers, and a
// device that logs in later on one server is seen by the other side
// through device list updates (docs/decisions/0012).

// waitDevice waits until ec's crypto store knows user's device.
func (ec *e2eeClient) waitDevice(t *testing.T, user id.UserID, device id.DeviceID) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// One device, not GetDevices: the memory store hands out its own
		// map, which the sync loop writes to.
		d, err := ec.helper.Machine().CryptoStore.GetDevice(ctx, user, device)
		if err == nil && d != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never learned of %s's device %s: %v", ec.UserID, user, device, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestFederationEncryptedChat(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice := newE2EEClient(t, hs1.Register(t, "alice"))
	bob := newE2EEClient(t, hs2.Register(t, "bob"))
	// A public room that bob joins through hs1. (Not an invite: hs2's
	// /sync does not yet carry a room's state when the first event bob
	// sees of it is an invite that came over federation.)
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat",
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatalf("bob joins through hs1: %v", err)
	}
	alice.waitMember(t, room.RoomID, bob.UserID)
	bob.waitMember(t, room.RoomID, alice.UserID)

	if _, err := alice.SendText(ctx, room.RoomID, "Lagebericht, nur für Bob"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, "Lagebericht, nur für Bob")
	if _, err := bob.SendText(ctx, room.RoomID, "Verstanden, Antwort aus dem Land"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, "Verstanden, Antwort aus dem Land")

	// Bob logs in on a second device on hs2; alice's client hears of it
	// from device_lists (hs2 tells hs1) and shares the next session with
	// it too.
	bob2 := newE2EEClient(t, loginAgain(t, hs2, bob.Client, "BOB2"))
	bob2.waitMember(t, room.RoomID, alice.UserID)
	alice.waitDevice(t, bob.UserID, "BOB2")
	if _, err := alice.SendText(ctx, room.RoomID, "Für alle Geräte"); err != nil {
		t.Fatal(err)
	}
	bob2.waitFor(t, "Für alle Geräte")
	bob.waitFor(t, "Für alle Geräte")

	// And the other way: alice's new device on hs1 gets bob's next message.
	alice2 := newE2EEClient(t, loginAgain(t, hs1, alice.Client, "ALICE2"))
	alice2.waitMember(t, room.RoomID, bob.UserID)
	bob.waitDevice(t, alice.UserID, "ALICE2")
	if _, err := bob.SendText(ctx, room.RoomID, "Auch an Alices neues Gerät"); err != nil {
		t.Fatal(err)
	}
	alice2.waitFor(t, "Auch an Alices neues Gerät")
	alice.waitFor(t, "Auch an Alices neues Gerät")
}

// Cross-signing across servers: bob (hs2) signs his second device with
// his self-signing key, alice (hs1) signs bob's master key with her
// user-signing key on her own server. Alice's client then trusts bob's
// second device through signatures that came from two servers.
func TestFederationCrossSigning(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice := startE2EEClient(t, hs1.Register(t, "alice"), false)
	bob := startE2EEClient(t, hs2.Register(t, "bob"), false)
	startE2EEClient(t, loginAgain(t, hs2, bob.Client, "BOB2"), false)
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}

	bobKeys, err := bob.helper.Machine().GenerateCrossSigningKeys()
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.helper.Machine().PublishCrossSigningKeys(ctx, bobKeys, nil); err != nil {
		t.Fatal(err)
	}
	own, err := bob.helper.Machine().FetchKeys(ctx, []id.UserID{bob.UserID}, true)
	if err != nil || own[bob.UserID]["BOB2"] == nil {
		t.Fatalf("bob cannot see his second device: %v %v", own, err)
	}
	if err := bob.helper.Machine().SignOwnDevice(ctx, own[bob.UserID]["BOB2"]); err != nil {
		t.Fatal(err)
	}

	aliceKeys, err := alice.helper.Machine().GenerateCrossSigningKeys()
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.helper.Machine().PublishCrossSigningKeys(ctx, aliceKeys, nil); err != nil {
		t.Fatal(err)
	}
	mach := alice.helper.Machine()
	deadline := time.Now().Add(20 * time.Second)
	signed := false
	for {
		fetched, err := mach.FetchKeys(ctx, []id.UserID{bob.UserID}, true)
		if err != nil {
			t.Fatal(err)
		}
		if keys, _ := mach.CryptoStore.GetCrossSigningKeys(ctx, bob.UserID); !signed && keys[id.XSUsageMaster].Key == bobKeys.MasterKey.PublicKey() {
			if err := mach.SignUser(ctx, bob.UserID, bobKeys.MasterKey.PublicKey()); err != nil {
				t.Fatal(err)
			}
			signed = true
			continue
		}
		dev := fetched[bob.UserID]["BOB2"]
		if trusted, _ := mach.IsUserTrusted(ctx, bob.UserID); signed && trusted && dev != nil && mach.IsDeviceTrusted(ctx, dev) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice does not trust bob's second device (signed bob's master key: %v, device %v)", signed, dev)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Bob's first device was never signed by his self-signing key.
	fetched, err := mach.FetchKeys(ctx, []id.UserID{bob.UserID}, true)
	if err != nil {
		t.Fatal(err)
	}
	if first := fetched[bob.UserID][bob.DeviceID]; first == nil || mach.IsDeviceTrusted(ctx, first) {
		t.Fatalf("bob's unsigned device is trusted (or missing): %v", first)
	}
}
