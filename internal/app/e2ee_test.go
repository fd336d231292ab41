//go:build goolm

package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/backup"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// e2eeClient is a client with mautrix's Olm/Megolm machine (the pure-Go
// goolm build), syncing in the background and collecting what it could
// decrypt.
type e2eeClient struct {
	*mautrix.Client
	helper *cryptohelper.CryptoHelper
	mu     sync.Mutex
	bodies []string
	stop   context.CancelFunc
	synced chan struct{} // closed when the sync loop has returned
}

func newE2EEClient(t *testing.T, cli *mautrix.Client) *e2eeClient {
	t.Helper()
	return startE2EEClient(t, cli, true)
}

// startE2EEClient sets up the crypto machine; with background it syncs.
// Without, the test drives the machine alone: mautrix's memory store is
// not safe for a test's calls beside the sync loop's.
func startE2EEClient(t *testing.T, cli *mautrix.Client, background bool) *e2eeClient {
	t.Helper()
	cli.StateStore = copyingStateStore{mautrix.NewMemoryStateStore().(*mautrix.MemoryStateStore)}
	helper, err := cryptohelper.NewCryptoHelper(cli, []byte("test pickle key"), crypto.NewMemoryStore(nil))
	if err != nil {
		t.Fatal(err)
	}
	ec := &e2eeClient{Client: cli, helper: helper}
	syncer := cli.Syncer.(*mautrix.DefaultSyncer)
	// The helper keeps a state store only when it manages one itself.
	syncer.OnEvent(cli.StateStoreSyncHandler)
	if err := helper.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	cli.Crypto = helper
	syncer.OnEventType(event.EventMessage, func(ctx context.Context, evt *event.Event) {
		if evt.Mautrix.WasEncrypted {
			ec.mu.Lock()
			ec.bodies = append(ec.bodies, evt.Content.AsMessage().Body)
			ec.mu.Unlock()
		}
	})
	syncer.OnEventType(event.StateMember, func(ctx context.Context, evt *event.Event) {
		// The raw content, not the parsed one: mautrix's memory state store
		// keeps and later changes the parsed object (a race otherwise).
		if evt.GetStateKey() == cli.UserID.String() && gjson.GetBytes(evt.Content.VeryRaw, "membership").Str == "invite" {
			_, _ = cli.JoinRoomByID(ctx, evt.RoomID)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	ec.stop = cancel
	ec.synced = make(chan struct{})
	if background {
		go func() {
			defer close(ec.synced)
			_ = cli.SyncWithContext(ctx)
		}()
	} else {
		close(ec.synced)
	}
	t.Cleanup(ec.stopSync)
	return ec
}

// stopSync ends the background sync loop and waits until it returned, so
// the test may use the crypto machine alone: the loop decrypts and updates
// the same sessions.
func (ec *e2eeClient) stopSync() {
	ec.stop()
	<-ec.synced
}

// copyingStateStore is mautrix's memory state store keeping a copy of
// each member event's content: the store itself keeps the event's own
// object and changes it later (CreateRoom, JoinRoom), while the sync
// loop's handlers still read it, which the race detector reports.
type copyingStateStore struct{ *mautrix.MemoryStateStore }

func (s copyingStateStore) SetMember(ctx context.Context, room id.RoomID, user id.UserID, member *event.MemberEventContent) error {
	cp := *member
	return s.MemoryStateStore.SetMember(ctx, room, user, &cp)
}

// waitFor waits until the client decrypted a message with body.
func (ec *e2eeClient) waitFor(t *testing.T, body string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ec.mu.Lock()
		for _, b := range ec.bodies {
			if b == body {
				ec.mu.Unlock()
				return
			}
		}
		ec.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	ec.mu.Lock()
	defer ec.mu.Unlock()
	t.Fatalf("%s never decrypted %q; decrypted: %v", ec.UserID, body, ec.bodies)
}

// waitMember waits until the client's state store sees user joined.
func (ec *e2eeClient) waitMember(t *testing.T, room id.RoomID, user id.UserID) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ec.StateStore.IsMembership(context.Background(), room, user, event.MembershipJoin) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never saw %s join", ec.UserID, user)
}

// Two users and three devices in an encrypted room: messages both ways
// decrypt, and a device that logs in later gets the keys of messages sent
// after the device-list update.
func TestEndToEndEncryptedChat(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := newE2EEClient(t, srv.Register(t, "alice"))
	bob := newE2EEClient(t, srv.Register(t, "bob"))
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID},
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	alice.waitMember(t, room.RoomID, bob.UserID)
	bob.waitMember(t, room.RoomID, alice.UserID)

	if _, err := alice.SendText(ctx, room.RoomID, "Vertraulich: Entwurf A"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, "Vertraulich: Entwurf A")
	if _, err := bob.SendText(ctx, room.RoomID, "Erhalten, Entwurf B folgt"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, "Erhalten, Entwurf B folgt")

	// Alice's second device.
	alice2 := newE2EEClient(t, loginAgain(t, srv, alice.Client, "ALICE2"))
	alice2.waitMember(t, room.RoomID, bob.UserID)
	// Bob's client learns of the new device from device_lists and shares
	// the next session with it too.
	deadline := time.Now().Add(20 * time.Second)
	for {
		// One device, not GetDevices: the memory store hands out its own
		// map, which bob's sync loop writes to.
		device, err := bob.helper.Machine().CryptoStore.GetDevice(ctx, alice.UserID, "ALICE2")
		if err == nil && device != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob never learned of alice's new device: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := bob.SendText(ctx, room.RoomID, "Für alle Geräte"); err != nil {
		t.Fatal(err)
	}
	alice2.waitFor(t, "Für alle Geräte")
	alice.waitFor(t, "Für alle Geräte")
}

// Cross-signing: Alice bootstraps her keys and signs her second device
// with her self-signing key; Bob bootstraps his and signs Alice's master
// key with his user-signing key. Bob then trusts Alice's second device
// through the signatures the server hands out, without ever verifying it
// directly.
func TestCrossSigningVerifiesADevice(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := startE2EEClient(t, srv.Register(t, "alice"), false)
	startE2EEClient(t, loginAgain(t, srv, alice.Client, "ALICE2"), false)
	bob := startE2EEClient(t, srv.Register(t, "bob"), false)

	aliceKeys, err := alice.helper.Machine().GenerateCrossSigningKeys()
	if err != nil {
		t.Fatal(err)
	}
	// The first upload of a master key needs no user-interactive auth.
	if err := alice.helper.Machine().PublishCrossSigningKeys(ctx, aliceKeys, nil); err != nil {
		t.Fatal(err)
	}
	devices, err := alice.helper.Machine().FetchKeys(ctx, []id.UserID{alice.UserID}, true)
	if err != nil || devices[alice.UserID]["ALICE2"] == nil {
		t.Fatalf("alice cannot see her second device: %v %v", devices, err)
	}
	if err := alice.helper.Machine().SignOwnDevice(ctx, devices[alice.UserID]["ALICE2"]); err != nil {
		t.Fatal(err)
	}

	bobKeys, err := bob.helper.Machine().GenerateCrossSigningKeys()
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.helper.Machine().PublishCrossSigningKeys(ctx, bobKeys, nil); err != nil {
		t.Fatal(err)
	}
	aliceMaster := aliceKeys.MasterKey.PublicKey()
	if _, err := bob.helper.Machine().FetchKeys(ctx, []id.UserID{alice.UserID}, true); err != nil {
		t.Fatal(err)
	}
	if err := bob.helper.Machine().SignUser(ctx, alice.UserID, aliceMaster); err != nil {
		t.Fatal(err)
	}
	fetched, err := bob.helper.Machine().FetchKeys(ctx, []id.UserID{alice.UserID}, true)
	if err != nil {
		t.Fatal(err)
	}
	dev := fetched[alice.UserID]["ALICE2"]
	if dev == nil {
		t.Fatalf("bob does not see ALICE2: %v", fetched)
	}
	mach := bob.helper.Machine()
	if trusted, err := mach.IsUserTrusted(ctx, alice.UserID); !trusted || err != nil {
		t.Fatalf("bob does not trust alice through his user-signing key (%v)", err)
	}
	if !mach.IsDeviceTrusted(ctx, dev) {
		trust, err := mach.ResolveTrustContext(ctx, dev)
		t.Fatalf("bob does not trust ALICE2: %v (%v)", trust, err)
	}
	// Alice's first device was never signed by her self-signing key.
	if first := fetched[alice.UserID][alice.DeviceID]; first == nil || mach.IsDeviceTrusted(ctx, first) {
		t.Fatalf("alice's unsigned device is trusted (or missing): %v", first)
	}
	// Bob's signature of Alice's master key is his alone: Alice does not
	// see it on her own key.
	own, err := alice.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{alice.UserID: nil}})
	if err != nil {
		t.Fatal(err)
	}
	if sigs := own.MasterKeys[alice.UserID].Signatures; sigs[bob.UserID] != nil || sigs[alice.UserID] == nil {
		t.Fatalf("signatures alice sees on her master key: %v", sigs)
	}
	// Replacing the master key later needs the password.
	again, _ := alice.helper.Machine().GenerateCrossSigningKeys()
	if err := alice.helper.Machine().PublishCrossSigningKeys(ctx, again, nil); err == nil {
		t.Fatal("replacing the master key without user-interactive auth succeeded")
	}

}

// Key backup: Alice backs up the Megolm session of a message, encrypted
// to a backup key only her devices know; a device she logs in later
// restores the backup and decrypts the older message, which no device sent
// it a key for.
func TestKeyBackupRestoresOlderMessages(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := newE2EEClient(t, srv.Register(t, "alice"))
	bob := newE2EEClient(t, srv.Register(t, "bob"))
	room, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{alice.UserID},
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	bob.waitMember(t, room.RoomID, alice.UserID)
	alice.waitMember(t, room.RoomID, bob.UserID)
	sent, err := bob.SendText(ctx, room.RoomID, "Aktenzeichen 4711")
	if err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, "Aktenzeichen 4711")
	alice.stopSync()

	// The session the message was encrypted with, as alice holds it.
	raw, err := alice.GetEvent(ctx, room.RoomID, sent.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Content.ParseRaw(raw.Type); err != nil {
		t.Fatal(err)
	}
	sessionID := raw.Content.AsEncrypted().SessionID
	igs, err := alice.helper.Machine().CryptoStore.GetGroupSession(ctx, room.RoomID, sessionID)
	if err != nil || igs == nil {
		t.Fatalf("alice has no session %s: %v", sessionID, err)
	}
	first := igs.Internal.FirstKnownIndex()
	exported, err := igs.Internal.Export(first)
	if err != nil {
		t.Fatal(err)
	}

	backupKey, err := backup.NewMegolmBackupKey()
	if err != nil {
		t.Fatal(err)
	}
	version, err := alice.CreateKeyBackupVersion(ctx, &mautrix.ReqRoomKeysVersionCreate[backup.MegolmAuthData]{
		Algorithm: id.KeyBackupAlgorithmMegolmBackupV1,
		AuthData:  backup.MegolmAuthData{PublicKey: id.Ed25519(base64.RawStdEncoding.EncodeToString(backupKey.PublicKey().Bytes()))},
	})
	if err != nil {
		t.Fatal(err)
	}
	encrypted, err := backup.EncryptSessionData(backupKey, backup.MegolmSessionData{Algorithm: id.AlgorithmMegolmV1,
		SenderKey: igs.SenderKey, SenderClaimedKeys: backup.SenderClaimedKeys{Ed25519: igs.SigningKey},
		SessionKey: string(exported), ForwardingKeyChain: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(encrypted)
	if _, err := alice.PutKeysInBackupForRoomAndSession(ctx, version.Version, room.RoomID, sessionID,
		&mautrix.ReqKeyBackupData{FirstMessageIndex: int(first), SessionData: data}); err != nil {
		t.Fatal(err)
	}

	// A new device restores the backup and reads the old message.
	// It does not sync: its initial sync would try the same message.
	alice3 := startE2EEClient(t, loginAgain(t, srv, alice.Client, "ALICE3"), false)
	old, err := alice3.GetEvent(ctx, room.RoomID, sent.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Content.ParseRaw(old.Type); err != nil {
		t.Fatal(err)
	}
	if _, err := alice3.helper.Decrypt(ctx, old); err == nil {
		t.Fatal("the new device decrypted the older message before restoring the backup")
	}
	if err := alice3.helper.Machine().GetAndStoreKeyBackup(ctx, version.Version, backupKey); err != nil {
		t.Fatal(err)
	}
	decrypted, err := alice3.helper.Decrypt(ctx, old)
	if err != nil {
		t.Fatalf("the new device cannot decrypt the older message after restoring the backup: %v", err)
	}
	if body := decrypted.Content.AsMessage().Body; body != "Aktenzeichen 4711" {
		t.Fatalf("decrypted %q", body)
	}
}
