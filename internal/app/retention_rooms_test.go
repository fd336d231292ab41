package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// roomNID is the room's number in the room tables.
func roomNID(t *testing.T, srv *apptest.Server, roomID id.RoomID) int64 {
	t.Helper()
	var nid int64
	if err := srv.App.DB.Read.QueryRow(`SELECT room_nid FROM rooms WHERE room_id = $1`, roomID.String()).Scan(&nid); err != nil {
		t.Fatal(err)
	}
	return nid
}

// roomLeft counts what the database holds of a room: its room row, its
// events, its state and its memberships.
func roomLeft(t *testing.T, srv *apptest.Server, roomID id.RoomID, nid int64) (rooms, rows int) {
	t.Helper()
	err := srv.App.DB.Read.QueryRow(`SELECT (SELECT COUNT(*) FROM rooms WHERE room_id = $1),
		(SELECT COUNT(*) FROM events WHERE room_nid = $2) + (SELECT COUNT(*) FROM current_state WHERE room_nid = $2) +
		(SELECT COUNT(*) FROM state_snapshots WHERE room_nid = $2) + (SELECT COUNT(*) FROM memberships WHERE room_nid = $2)`,
		roomID.String(), nid).Scan(&rooms, &rows)
	if err != nil {
		t.Fatal(err)
	}
	return rooms, rows
}

// TestRetentionForgottenRooms: forgotten_room_retention_period purges a
// room once every local member left and forgot it, that long after; a
// room someone local is still in, or has not forgotten, stays.
func TestRetentionForgottenRooms(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.ForgottenRoomRetentionPeriod = config.Duration(28 * day)
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	newRoom := func() id.RoomID {
		t.Helper()
		room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Altakten"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.SendText(ctx, room.RoomID, "Vermerk"); err != nil {
			t.Fatal(err)
		}
		return room.RoomID
	}
	leave := func(cli *mautrix.Client, room id.RoomID, forget bool) {
		t.Helper()
		if _, err := cli.LeaveRoom(ctx, room); err != nil {
			t.Fatal(err)
		}
		if forget {
			if _, err := cli.ForgetRoom(ctx, room); err != nil {
				t.Fatal(err)
			}
		}
	}
	forgotten, remembered, inUse := newRoom(), newRoom(), newRoom()
	nids := map[id.RoomID]int64{}
	for _, room := range []id.RoomID{forgotten, remembered, inUse} {
		nids[room] = roomNID(t, srv, room)
	}
	leave(alice, forgotten, true)
	leave(bob, forgotten, true)
	leave(alice, remembered, true)
	leave(bob, remembered, false)
	leave(alice, inUse, true)

	tests := []struct {
		name       string
		after      time.Duration
		room       id.RoomID
		wantPurged bool
	}{
		{"forgotten, too recently", 27 * day, forgotten, false},
		{"forgotten, after the period", 29 * day, forgotten, true},
		{"left, not forgotten by all", 29 * day, remembered, false},
		{"a local member is still in it", 29 * day, inUse, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			retentionAt(t, srv, time.Now().Add(tc.after)).RunDue(ctx)
			// The job is due again an hour later on the clock it ran with.
			if err := srv.App.DB.Write(ctx, resetJobs); err != nil {
				t.Fatal(err)
			}
			rooms, rows := roomLeft(t, srv, tc.room, nids[tc.room])
			if purged := rooms == 0 && rows == 0; purged != tc.wantPurged || (!purged && (rooms == 0 || rows == 0)) {
				t.Fatalf("room rows %d, its other rows %d; want purged %v", rooms, rows, tc.wantPurged)
			}
		})
	}
	// A purged room is a room the server does not know.
	if _, err := bob.JoinRoomByID(ctx, forgotten); err == nil {
		t.Fatal("joined the purged room")
	}
	// The others still work.
	if _, err := bob.SendText(ctx, inUse, "noch da"); err != nil {
		t.Fatal(err)
	}
}

// TestRetentionPolicyPurgesOldMessages: with retention enabled, a room
// whose m.room.retention allows a day loses the messages older than that
// (the newest event kept), never its state; a room without a policy and
// without a default keeps everything.
func TestRetentionPolicyPurgesOldMessages(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.Retention = config.MessageRetention{Enabled: true, AllowedLifetimeMin: config.Duration(day), AllowedLifetimeMax: config.Duration(365 * day)}
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	short, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Kurzlebig", Topic: "bleibt",
		InitialState: []*event.Event{{Type: event.NewEventType("m.room.retention"), StateKey: new(string),
			Content: event.Content{Raw: map[string]any{"max_lifetime": 60 * 60 * 1000}}}}})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Dauerhaft"})
	if err != nil {
		t.Fatal(err)
	}
	var sent []id.EventID
	for _, room := range []id.RoomID{short.RoomID, keep.RoomID} {
		for _, body := range []string{"eins", "zwei", "drei"} {
			resp, err := alice.SendText(ctx, room, body)
			if err != nil {
				t.Fatal(err)
			}
			sent = append(sent, resp.EventID)
		}
	}

	// The room asked for an hour; allowed_lifetime_min makes it a day.
	if ran := retentionAt(t, srv, time.Now().Add(23*time.Hour)).RunDue(ctx); len(ran) != 1 {
		t.Fatalf("rounds done: %v", ran)
	}
	if _, err := alice.GetEvent(ctx, short.RoomID, sent[0]); err != nil {
		t.Fatalf("a message younger than allowed_lifetime_min was purged: %v", err)
	}
	if err := srv.App.DB.Write(ctx, resetJobs); err != nil {
		t.Fatal(err)
	}
	retentionAt(t, srv, time.Now().Add(2*day)).RunDue(ctx)

	for i, ev := range sent {
		_, err := alice.GetEvent(ctx, []id.RoomID{short.RoomID, keep.RoomID}[i/3], ev)
		gone := httpStatus(err) == 404
		// The newest event of the short-lived room stays.
		if wantGone := i < 2; gone != wantGone {
			t.Errorf("event %d: err %v, want gone %v", i, err, wantGone)
		}
	}
	state, err := alice.State(ctx, short.RoomID)
	if err != nil {
		t.Fatal(err)
	}
	if name := state[event.StateRoomName][""]; name == nil || name.Content.AsRoomName().Name != "Kurzlebig" {
		t.Fatalf("the room's name went with its messages: %v", state[event.StateRoomName])
	}
	if topic := state[event.StateTopic][""]; topic == nil || topic.Content.AsTopic().Topic != "bleibt" {
		t.Fatalf("the room's topic went with its messages")
	}
	msgs, err := alice.Messages(ctx, short.RoomID, "", "", mautrix.DirectionBackward, nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range msgs.Chunk {
		if ev.Type == event.EventMessage && ev.ID != sent[2] {
			t.Fatalf("/messages still has the purged message %s", ev.ID)
		}
	}
	// The room still works.
	if _, err := alice.SendText(ctx, short.RoomID, "vier"); err != nil {
		t.Fatal(err)
	}
}
