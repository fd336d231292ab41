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

// syncUntil long-polls /sync until cond holds for a response, and returns
// the next since token.
func syncUntil(t *testing.T, cli *mautrix.Client, since string, what string, cond func(*mautrix.RespSync) bool) string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := cli.SyncRequest(ctx, 2000, since, "", false, "")
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		since = resp.NextBatch
		if cond(resp) {
			return since
		}
	}
	t.Fatalf("%s: condition not met within 10s", what)
	return ""
}

// joinedEvents returns the parsed events of one section ("state",
// "timeline" or "ephemeral") of a joined room in a sync response.
func joinedEvents(resp *mautrix.RespSync, room id.RoomID, section string) []*event.Event {
	jr, ok := resp.Rooms.Join[room]
	if !ok {
		return nil
	}
	var evs []*event.Event
	switch section {
	case "state":
		evs = jr.State.Events
	case "timeline":
		evs = jr.Timeline.Events
	case "ephemeral":
		evs = jr.Ephemeral.Events
	}
	for _, ev := range evs {
		_ = ev.Content.ParseRaw(ev.Type)
	}
	return evs
}

// memberIs matches the member event of user with the given membership and,
// if not empty, display name.
func memberIs(user id.UserID, membership event.Membership, displayName string) func(*event.Event) bool {
	return func(ev *event.Event) bool {
		if ev.Type != event.StateMember || ev.GetStateKey() != user.String() {
			return false
		}
		m := ev.Content.AsMember()
		return m.Membership == membership && (displayName == "" || m.Displayname == displayName)
	}
}

func timelineBodies(resp *mautrix.RespSync, room id.RoomID) []string {
	var out []string
	if jr, ok := resp.Rooms.Join[room]; ok {
		for _, ev := range jr.Timeline.Events {
			if ev.Type == event.EventMessage {
				_ = ev.Content.ParseRaw(ev.Type)
				out = append(out, ev.Content.AsMessage().Body)
			}
		}
	}
	return out
}

func TestTwoUsersChat(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")

	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Name: "Lagebesprechung", Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatalf("createRoom: %v", err)
	}
	room := created.RoomID

	bobSince := syncUntil(t, bob, "", "bob sees the invite", func(r *mautrix.RespSync) bool {
		_, ok := r.Rooms.Invite[room]
		return ok
	})
	if _, err := bob.JoinRoomByID(ctx, room); err != nil {
		t.Fatalf("join: %v", err)
	}
	aliceSince := syncUntil(t, alice, "", "alice sees bob joined", func(r *mautrix.RespSync) bool {
		evs := append(joinedEvents(r, room, "state"), joinedEvents(r, room, "timeline")...)
		return slices.ContainsFunc(evs, memberIs(bob.UserID, event.MembershipJoin, ""))
	})

	sent := []string{"eins", "zwei", "drei"}
	var lastEvent id.EventID
	for _, body := range sent {
		resp, err := alice.SendText(ctx, room, body)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		lastEvent = resp.EventID
	}
	var got []string
	bobSince = syncUntil(t, bob, bobSince, "bob receives the messages", func(r *mautrix.RespSync) bool {
		got = append(got, timelineBodies(r, room)...)
		return len(got) >= len(sent)
	})
	if !slices.Equal(got, sent) {
		t.Fatalf("bob received %v, want %v", got, sent)
	}

	// Typing and receipts reach alice.
	if _, err := bob.UserTyping(ctx, room, true, 10*time.Second); err != nil {
		t.Fatalf("typing: %v", err)
	}
	aliceSince = syncUntil(t, alice, aliceSince, "alice sees bob typing", func(r *mautrix.RespSync) bool {
		return slices.ContainsFunc(joinedEvents(r, room, "ephemeral"), func(ev *event.Event) bool {
			return ev.Type == event.EphemeralEventTyping && slices.Contains(ev.Content.AsTyping().UserIDs, bob.UserID)
		})
	})
	if err := bob.MarkRead(ctx, room, lastEvent); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	aliceSince = syncUntil(t, alice, aliceSince, "alice sees bob's receipt", func(r *mautrix.RespSync) bool {
		return slices.ContainsFunc(joinedEvents(r, room, "ephemeral"), func(ev *event.Event) bool {
			if ev.Type != event.EphemeralEventReceipt {
				return false
			}
			_, ok := (*ev.Content.AsReceipt())[lastEvent][event.ReceiptTypeRead][bob.UserID]
			return ok
		})
	})

	// A profile change updates bob's member event.
	if err := bob.SetDisplayName(ctx, "Bob vom Amt"); err != nil {
		t.Fatalf("displayname: %v", err)
	}
	aliceSince = syncUntil(t, alice, aliceSince, "alice sees bob's new name", func(r *mautrix.RespSync) bool {
		return slices.ContainsFunc(joinedEvents(r, room, "timeline"), memberIs(bob.UserID, event.MembershipJoin, "Bob vom Amt"))
	})

	// /messages backwards returns the conversation newest first.
	msgs, err := bob.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 50)
	if err != nil {
		t.Fatalf("messages: %v", err)
	}
	var history []string
	for _, ev := range msgs.Chunk {
		if ev.Type == event.EventMessage {
			_ = ev.Content.ParseRaw(ev.Type)
			history = append(history, ev.Content.AsMessage().Body)
		}
	}
	slices.Reverse(history)
	if !slices.Equal(history, sent) {
		t.Fatalf("/messages gave %v, want %v", history, sent)
	}

	// Bob leaves: alice sees it, bob's sync moves the room to leave.
	if _, err := bob.LeaveRoom(ctx, room); err != nil {
		t.Fatalf("leave: %v", err)
	}
	syncUntil(t, bob, bobSince, "bob's room moves to leave", func(r *mautrix.RespSync) bool {
		_, ok := r.Rooms.Leave[room]
		return ok
	})
	syncUntil(t, alice, aliceSince, "alice sees bob leave", func(r *mautrix.RespSync) bool {
		return slices.ContainsFunc(joinedEvents(r, room, "timeline"), memberIs(bob.UserID, event.MembershipLeave, ""))
	})
}
