package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Typing, read receipts and presence between two rohrpost servers: each
// change of a local user goes to the other server as an EDU through the
// send queue, and what the other server sends shows in /sync.

// sharedRoom makes alice (hs1) create a room that bob (hs2) joins.
func sharedRoom(t *testing.T, hs1, hs2 *apptest.Server) (alice, bob *mautrix.Client, room id.RoomID) {
	t.Helper()
	ctx := context.Background()
	alice, bob = hs1.Register(t, "alice"), hs2.Register(t, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Krisenstab"})
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

// currentSince is a since token for cli from now on.
func currentSince(t *testing.T, cli *mautrix.Client) string {
	t.Helper()
	resp, err := cli.SyncRequest(context.Background(), 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	return resp.NextBatch
}

// typingIn returns the users of the room's m.typing, if the response has one.
func typingIn(resp *mautrix.RespSync, room id.RoomID) ([]id.UserID, bool) {
	for _, ev := range joinedEvents(resp, room, "ephemeral") {
		if ev.Type == event.EphemeralEventTyping {
			return ev.Content.AsTyping().UserIDs, true
		}
	}
	return nil, false
}

// waitTyping syncs cli until the room's typing users include user (or,
// with typing false, no longer do).
func waitTyping(t *testing.T, cli *mautrix.Client, since string, room id.RoomID, user id.UserID, typing bool) string {
	t.Helper()
	return syncUntil(t, cli, since, string(cli.UserID)+" sees the typing of "+string(user), func(resp *mautrix.RespSync) bool {
		users, ok := typingIn(resp, room)
		return ok && slices.Contains(users, user) == typing
	})
}

// receiptIn returns the data of user's receipt of type typ for eventID.
func receiptIn(resp *mautrix.RespSync, room id.RoomID, eventID id.EventID, typ string, user id.UserID) (map[string]any, bool) {
	for _, ev := range joinedEvents(resp, room, "ephemeral") {
		if ev.Type != event.EphemeralEventReceipt {
			continue
		}
		byType, _ := ev.Content.Raw[string(eventID)].(map[string]any)
		byUser, _ := byType[typ].(map[string]any)
		if data, ok := byUser[string(user)].(map[string]any); ok {
			return data, true
		}
	}
	return nil, false
}

// presenceIn returns user's presence content, if the response has it.
func presenceIn(resp *mautrix.RespSync, user id.UserID) (map[string]any, bool) {
	for _, ev := range resp.Presence.Events {
		if ev.Sender == user {
			return ev.Content.Raw, true
		}
	}
	return nil, false
}

func TestFederationTyping(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	alice, bob, room := sharedRoom(t, servers[0], servers[1])
	ctx := context.Background()
	aliceSince, bobSince := currentSince(t, alice), currentSince(t, bob)

	// hs1 -> hs2: start shows, stop clears.
	if _, err := alice.UserTyping(ctx, room, true, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	bobSince = waitTyping(t, bob, bobSince, room, alice.UserID, true)
	if _, err := alice.UserTyping(ctx, room, false, 0); err != nil {
		t.Fatal(err)
	}
	bobSince = waitTyping(t, bob, bobSince, room, alice.UserID, false)

	// hs2 -> hs1.
	if _, err := bob.UserTyping(ctx, room, true, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	aliceSince = waitTyping(t, alice, aliceSince, room, bob.UserID, true)
	if _, err := bob.UserTyping(ctx, room, false, 0); err != nil {
		t.Fatal(err)
	}
	waitTyping(t, alice, aliceSince, room, bob.UserID, false)

	// A local timeout reaches the other server as a stop: well before
	// the other server's own timeout of 30s (syncUntil gives up at 10s).
	if _, err := alice.UserTyping(ctx, room, true, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	bobSince = waitTyping(t, bob, bobSince, room, alice.UserID, true)
	waitTyping(t, bob, bobSince, room, alice.UserID, false)
}

// A remote user's typing ends by itself when their server goes quiet,
// after our own timeout (30s), even if their client asked for longer.
func TestFederationTypingExpires(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits for the 30s timeout of remote typing")
	}
	servers := apptest.StartFederation(t, 2)
	alice, bob, room := sharedRoom(t, servers[0], servers[1])
	ctx := context.Background()
	bobSince := currentSince(t, bob)
	if _, err := alice.UserTyping(ctx, room, true, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	bobSince = waitTyping(t, bob, bobSince, room, alice.UserID, true)
	started := time.Now()
	deadline := started.Add(45 * time.Second)
	for {
		resp, err := bob.SyncRequest(ctx, 5000, bobSince, "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		bobSince = resp.NextBatch
		if users, ok := typingIn(resp, room); ok && !slices.Contains(users, alice.UserID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("alice's typing did not expire on hs2")
		}
	}
	if waited := time.Since(started); waited < 20*time.Second {
		t.Errorf("alice's typing ended on hs2 after %s, before the timeout", waited)
	}
	// On her own server she still types: her client asked for two minutes.
	resp, err := alice.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if users, _ := typingIn(resp, room); !slices.Contains(users, alice.UserID) {
		t.Errorf("alice's typing on hs1: %v", users)
	}
}

func TestFederationReceipts(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	alice, bob, room := sharedRoom(t, servers[0], servers[1])
	ctx := context.Background()
	aliceSince, bobSince := currentSince(t, alice), currentSince(t, bob)

	// hs2 -> hs1: bob reads alice's message.
	msg, err := alice.SendText(ctx, room, "Lagebericht 6 Uhr")
	if err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, room, "Lagebericht 6 Uhr")
	if err := bob.SendReceipt(ctx, room, msg.EventID, event.ReceiptTypeRead, nil); err != nil {
		t.Fatal(err)
	}
	syncUntil(t, alice, aliceSince, "alice sees bob's receipt", func(resp *mautrix.RespSync) bool {
		_, ok := receiptIn(resp, room, msg.EventID, "m.read", bob.UserID)
		return ok
	})

	// hs1 -> hs2: a private receipt stays home, a threaded one keeps its
	// thread.
	root, err := bob.SendText(ctx, room, "Frage zur Lage")
	if err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, room, "Frage zur Lage")
	reply, err := alice.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{
		"msgtype": "m.text", "body": "Antwort im Thread",
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root.EventID},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, room, "Antwort im Thread")
	if err := alice.SendReceipt(ctx, room, root.EventID, event.ReceiptTypeReadPrivate, nil); err != nil {
		t.Fatal(err)
	}
	if err := alice.SendReceipt(ctx, room, reply.EventID, event.ReceiptTypeRead, &mautrix.ReqSendReceipt{ThreadID: root.EventID.String()}); err != nil {
		t.Fatal(err)
	}
	sawPrivate := false
	syncUntil(t, bob, bobSince, "bob sees alice's threaded receipt", func(resp *mautrix.RespSync) bool {
		if _, ok := receiptIn(resp, room, root.EventID, "m.read.private", alice.UserID); ok {
			sawPrivate = true
		}
		data, ok := receiptIn(resp, room, reply.EventID, "m.read", alice.UserID)
		if ok && data["thread_id"] != root.EventID.String() {
			t.Errorf("thread_id on hs2: %v, want %s", data["thread_id"], root.EventID)
		}
		return ok
	})
	if sawPrivate {
		t.Error("alice's private receipt reached hs2")
	}
}

func TestFederationPresence(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	alice, bob, _ := sharedRoom(t, servers[0], servers[1])
	ctx := context.Background()
	aliceSince, bobSince := currentSince(t, alice), currentSince(t, bob)

	if err := alice.SetPresence(ctx, mautrix.ReqPresence{Presence: event.PresenceOnline, StatusMsg: "im Dienst"}); err != nil {
		t.Fatal(err)
	}
	syncUntil(t, bob, bobSince, "bob sees alice online", func(resp *mautrix.RespSync) bool {
		c, ok := presenceIn(resp, alice.UserID)
		return ok && c["presence"] == "online" && c["status_msg"] == "im Dienst"
	})
	if err := bob.SetPresence(ctx, mautrix.ReqPresence{Presence: event.PresenceUnavailable}); err != nil {
		t.Fatal(err)
	}
	syncUntil(t, alice, aliceSince, "alice sees bob unavailable", func(resp *mautrix.RespSync) bool {
		c, ok := presenceIn(resp, bob.UserID)
		return ok && c["presence"] == "unavailable"
	})
	got, err := alice.GetPresence(ctx, bob.UserID)
	if err != nil || got.Presence != event.PresenceUnavailable {
		t.Errorf("GET presence of bob on hs1: %+v, %v", got, err)
	}
}

// A server with presence switched off sends none and takes none: the
// other server sees nothing of its users' presence, and its users see
// nothing of the other server's.
func TestFederationPresenceOff(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	hs1.App.Config.Presence.Enabled = false
	hs1.Restart(t)
	alice, bob, room := sharedRoom(t, hs1, hs2)
	ctx := context.Background()
	aliceSince, bobSince := currentSince(t, alice), currentSince(t, bob)

	// Both try; then alice types, which travels the same queue after
	// anything her presence would have sent.
	if err := alice.SetPresence(ctx, mautrix.ReqPresence{Presence: event.PresenceOnline, StatusMsg: "sichtbar?"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline); err != nil {
		t.Fatal(err)
	}
	if err := bob.SetPresence(ctx, mautrix.ReqPresence{Presence: event.PresenceOnline}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.UserTyping(ctx, room, true, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	syncUntil(t, bob, bobSince, "bob sees alice type", func(resp *mautrix.RespSync) bool {
		if c, ok := presenceIn(resp, alice.UserID); ok && c["presence"] != "offline" {
			t.Errorf("bob sees alice's presence from hs1: %v", c)
		}
		users, _ := typingIn(resp, room)
		return slices.Contains(users, alice.UserID)
	})
	// bob's typing goes the same way to hs1 after his presence.
	if _, err := bob.UserTyping(ctx, room, true, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	syncUntil(t, alice, aliceSince, "alice sees bob type", func(resp *mautrix.RespSync) bool {
		if c, ok := presenceIn(resp, bob.UserID); ok {
			t.Errorf("alice sees bob's presence with presence off: %v", c)
		}
		users, _ := typingIn(resp, room)
		return slices.Contains(users, bob.UserID)
	})
	if got, err := alice.GetPresence(ctx, bob.UserID); err != nil || got.Presence != event.PresenceOffline {
		t.Errorf("GET presence of bob on hs1: %+v, %v", got, err)
	}
	// hs2 took nothing either: bob's server holds no presence of alice.
	if got, err := bob.GetPresence(ctx, alice.UserID); err != nil || got.Presence != event.PresenceOffline || got.StatusMsg != "" {
		t.Errorf("GET presence of alice on hs2: %+v, %v", got, err)
	}
}

// Presence set before two servers shared a room reaches the other side
// when they start to (SyTest's SYN-115): nobody has to change presence
// again for it to show in a new chat.
func TestFederationPresenceOnNewChat(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob := hs1.Register(t, "alice"), hs2.Register(t, "bob")
	if err := alice.SetPresence(ctx, mautrix.ReqPresence{Presence: event.PresenceOnline, StatusMsg: "im Dienst"}); err != nil {
		t.Fatal(err)
	}
	if err := bob.SetPresence(ctx, mautrix.ReqPresence{Presence: event.PresenceUnavailable, StatusMsg: "in Sitzung"}); err != nil {
		t.Fatal(err)
	}
	aliceSince, bobSince := currentSince(t, alice), currentSince(t, bob)
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	waitForMembership(t, alice, room.RoomID, bob.UserID, event.MembershipInvite)
	if _, err := bob.JoinRoom(ctx, room.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatal(err)
	}
	syncUntil(t, bob, bobSince, "bob sees alice online", func(resp *mautrix.RespSync) bool {
		c, ok := presenceIn(resp, alice.UserID)
		return ok && c["presence"] == "online" && c["status_msg"] == "im Dienst"
	})
	// Bob's own syncs have made him online meanwhile; his status stays.
	syncUntil(t, alice, aliceSince, "alice sees bob's presence", func(resp *mautrix.RespSync) bool {
		c, ok := presenceIn(resp, bob.UserID)
		return ok && c["status_msg"] == "in Sitzung"
	})
}
