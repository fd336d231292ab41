package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/pushrules"
)

// The unread counts follow the spec's default push rules: messages,
// encrypted events and calls notify; notices, edits, reactions and state
// do not; a mention of the user, an @room by someone allowed to, and a
// tombstone highlight. A read receipt resets them.
func TestUnreadCountsFollowDefaultPushRules(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*mautrix.Client{bob, carol} {
		if _, err := c.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
	}
	send := func(c *mautrix.Client, evType event.Type, content map[string]any) id.EventID {
		t.Helper()
		resp, err := c.SendMessageEvent(ctx, room.RoomID, evType, content)
		if err != nil {
			t.Fatal(err)
		}
		return resp.EventID
	}
	text := func(body string) map[string]any { return map[string]any{"msgtype": "m.text", "body": body} }
	counts := func() (int, int) {
		t.Helper()
		resp, err := bob.SyncRequest(ctx, 0, "", "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		jr := resp.Rooms.Join[room.RoomID]
		if jr == nil || jr.UnreadNotifications == nil {
			t.Fatalf("no unread_notifications for the room")
		}
		return jr.UnreadNotifications.NotificationCount, jr.UnreadNotifications.HighlightCount
	}
	first := send(alice, event.EventMessage, text("Guten Morgen"))
	steps := []struct {
		name           string
		do             func()
		notify, marked int
	}{
		{"a message notifies", func() {}, 1, 0},
		{"a notice does not", func() { send(alice, event.EventMessage, map[string]any{"msgtype": "m.notice", "body": "Bot"}) }, 1, 0},
		{"an edit does not", func() {
			send(alice, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "* Guten Tag",
				"m.new_content": text("Guten Tag"), "m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": first}})
		}, 1, 0},
		{"a reaction does not", func() {
			send(alice, event.EventReaction, map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": first, "key": "👍"}})
		}, 1, 0},
		{"a mention of bob highlights", func() {
			send(alice, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "bob?", "m.mentions": map[string]any{"user_ids": []string{bob.UserID.String()}}})
		}, 2, 1},
		{"a mention of carol does not highlight for bob", func() {
			send(alice, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "carol?", "m.mentions": map[string]any{"user_ids": []string{carol.UserID.String()}}})
		}, 3, 1},
		{"@room by the room's admin highlights", func() {
			send(alice, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "alle", "m.mentions": map[string]any{"room": true}})
		}, 4, 2},
		{"@room by a member without the power does not", func() {
			send(carol, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "alle", "m.mentions": map[string]any{"room": true}})
		}, 5, 2},
		{"an encrypted event notifies", func() {
			send(alice, event.EventEncrypted, map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAAA", "session_id": "s", "sender_key": "k", "device_id": "D"})
		}, 6, 2},
		{"bob's own messages do not count", func() { send(bob, event.EventMessage, text("ich")) }, 6, 2},
		{"a name change does not", func() {
			if _, err := alice.SendStateEvent(ctx, room.RoomID, event.StateRoomName, "", map[string]any{"name": "Referat 3"}); err != nil {
				t.Fatal(err)
			}
		}, 6, 2},
	}
	for _, st := range steps {
		st.do()
		if n, h := counts(); n != st.notify || h != st.marked {
			t.Fatalf("%s: notification_count %d, highlight_count %d; want %d, %d", st.name, n, h, st.notify, st.marked)
		}
	}
	last := send(alice, event.EventMessage, text("Ende"))
	if err := bob.SendReceipt(ctx, room.RoomID, last, event.ReceiptTypeRead, nil); err != nil {
		t.Fatal(err)
	}
	if n, h := counts(); n != 0 || h != 0 {
		t.Fatalf("after the read receipt: %d, %d; want 0, 0", n, h)
	}
}

// Element's room settings are push rules: "mute" is an override rule on
// the room id, "mentions and keywords" a room rule without notify. The
// counts of /sync follow them, and the rules reach the client as the
// m.push_rules account data.
func TestPushRulesShapeUnreadCounts(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	rules, err := bob.GetPushRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules.Override) == 0 || rules.Override[0].RuleID != ".m.rule.master" || len(rules.Underride) != 5 {
		t.Fatalf("default rules: %+v", rules)
	}
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, room.RoomID, "für alle"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "bob!",
		"m.mentions": map[string]any{"user_ids": []string{bob.UserID.String()}}}); err != nil {
		t.Fatal(err)
	}
	counts := func() (int, int, bool) {
		t.Helper()
		resp, err := bob.SyncRequest(ctx, 0, "", "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		var sawRules bool
		for _, ev := range resp.AccountData.Events {
			sawRules = sawRules || ev.Type.Type == "m.push_rules"
		}
		u := resp.Rooms.Join[room.RoomID].UnreadNotifications
		return u.NotificationCount, u.HighlightCount, sawRules
	}
	if n, h, _ := counts(); n != 2 || h != 1 {
		t.Fatalf("by default: %d, %d; want 2, 1", n, h)
	}
	if err := bob.PutPushRule(ctx, "global", pushrules.RoomRule, room.RoomID.String(), &mautrix.ReqPutPushRule{Actions: []pushrules.PushActionType{}}); err != nil {
		t.Fatal(err)
	}
	if n, h, saw := counts(); n != 1 || h != 1 || !saw {
		t.Fatalf("mentions only: %d, %d, rules in account data %v; want 1, 1, true", n, h, saw)
	}
	if err := bob.PutPushRule(ctx, "global", pushrules.OverrideRule, room.RoomID.String(), &mautrix.ReqPutPushRule{
		Actions:    []pushrules.PushActionType{},
		Conditions: []pushrules.PushCondition{{Kind: pushrules.KindEventMatch, Key: "room_id", Pattern: room.RoomID.String()}},
	}); err != nil {
		t.Fatal(err)
	}
	if n, h, _ := counts(); n != 0 || h != 0 {
		t.Fatalf("muted: %d, %d; want 0, 0", n, h)
	}
	for _, kind := range []pushrules.PushRuleType{pushrules.OverrideRule, pushrules.RoomRule} {
		if err := bob.DeletePushRule(ctx, "global", kind, room.RoomID.String()); err != nil {
			t.Fatal(err)
		}
	}
	if n, h, _ := counts(); n != 2 || h != 1 {
		t.Fatalf("rules deleted: %d, %d; want 2, 1", n, h)
	}
}
