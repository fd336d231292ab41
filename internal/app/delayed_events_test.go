package app_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
)

// Delayed events (MSC4140) through the endpoints Element Call and
// matrix-js-sdk call: scheduled with ?org.matrix.msc4140.delay, managed
// under /unstable/org.matrix.msc4140/delayed_events.

const msc4140 = "/_matrix/client/unstable/org.matrix.msc4140"

func delayedConfig(t *testing.T, perUser int) *config.Config {
	cfg := apptest.Config(t.TempDir())
	cfg.DelayedEvents.MaxEventDelayDuration = config.Duration(time.Hour)
	cfg.DelayedEvents.MaxDelayedEventsPerUser = perUser
	return cfg
}

// scheduleMessage sends a message with a delay and returns its delay id.
func scheduleMessage(t *testing.T, cli *mautrix.Client, room id.RoomID, body string, delay time.Duration) string {
	t.Helper()
	path := fmt.Sprintf("/rooms/%s/send/m.room.message/%s?org.matrix.msc4140.delay=%d", room, url.PathEscape(body), delay.Milliseconds())
	status, resp := rawCall(t, cli, "PUT", path, map[string]any{"msgtype": "m.text", "body": body})
	delayID, _ := resp["delay_id"].(string)
	if status != 200 || delayID == "" || resp["event_id"] != nil {
		t.Fatalf("schedule %q: %d %v", body, status, resp)
	}
	return delayID
}

// hasMessage tells whether the room's newest 50 events hold a message
// with body.
func hasMessage(t *testing.T, cli *mautrix.Client, room id.RoomID, body string) *event.Event {
	t.Helper()
	resp, err := cli.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range resp.Chunk {
		if ev.Type == event.EventMessage && ev.Content.Raw["body"] == body {
			return ev
		}
	}
	return nil
}

// delayedEvent is GET /delayed_events/{delayId} as cli.
func delayedEvent(t *testing.T, cli *mautrix.Client, delayID string) (int, map[string]any) {
	t.Helper()
	return rawCallPath(t, cli, "GET", msc4140+"/delayed_events/"+delayID, nil)
}

// waitFinalised polls the delayed event until it is finalised.
func waitFinalised(t *testing.T, cli *mautrix.Client, delayID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		status, ev := delayedEvent(t, cli, delayID)
		if status != 200 {
			t.Fatalf("get %s: %d %v", delayID, status, ev)
		}
		if ev["finalised_ts"] != nil {
			return ev
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("delayed event %s not finalised within 20s", delayID)
	return nil
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func TestDelayedEvents(t *testing.T) {
	t.Parallel()
	srv := apptest.StartWith(t, delayedConfig(t, 5))
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat",
		PowerLevelOverride: &event.PowerLevelsEventContent{Users: map[id.UserID]int{alice.UserID: 100, bob.UserID: 50}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}

	t.Run("advertised", func(t *testing.T) {
		versions, err := alice.Versions(ctx)
		if err != nil || !versions.UnstableFeatures["org.matrix.msc4140"] {
			t.Errorf("versions: %v %v", err, versions)
		}
		_, caps := rawCall(t, alice, "GET", "/capabilities", nil)
		c, _ := caps["capabilities"].(map[string]any)
		d, _ := c["org.matrix.msc4140.delayed_events"].(map[string]any)
		if num(d["max_delay_ms"]) != time.Hour.Milliseconds() || num(d["max_scheduled"]) != 5 {
			t.Errorf("capability: %v", c)
		}
	})

	t.Run("through mautrix", func(t *testing.T) {
		// mautrix-go's own calls: the delay as query parameter, the list
		// read as delayed_events, the action in the body.
		resp, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "via mautrix"},
			mautrix.ReqSendEvent{UnstableDelay: time.Hour})
		if err != nil || resp.UnstableDelayID == "" || resp.EventID != "" {
			t.Fatalf("send: %v %+v", err, resp)
		}
		list, err := alice.DelayedEvents(ctx, &mautrix.ReqDelayedEvents{DelayID: resp.UnstableDelayID})
		if err != nil || len(list.Scheduled) != 1 || list.Scheduled[0].Delay != time.Hour.Milliseconds() || list.Scheduled[0].RunningSince.IsZero() {
			t.Fatalf("list: %v %+v", err, list)
		}
		if _, err := alice.UpdateDelayedEvent(ctx, &mautrix.ReqUpdateDelayedEvent{DelayID: resp.UnstableDelayID, Action: event.DelayActionSend}); err != nil {
			t.Fatal(err)
		}
		if hasMessage(t, alice, room.RoomID, "via mautrix") == nil {
			t.Error("not sent")
		}
		if _, err := alice.UpdateDelayedEvent(ctx, &mautrix.ReqUpdateDelayedEvent{DelayID: resp.UnstableDelayID, Action: event.DelayActionCancel}); err == nil {
			t.Error("cancelling a sent event succeeded")
		}
	})

	t.Run("sent after the delay", func(t *testing.T) {
		delayID := scheduleMessage(t, alice, room.RoomID, "later", 2*time.Second)
		if hasMessage(t, alice, room.RoomID, "later") != nil {
			t.Fatal("the delayed message is in the room at once")
		}
		_, scheduled := delayedEvent(t, alice, delayID)
		ev := waitForMessage(t, bob, room.RoomID, "later")
		if ev.Sender != alice.UserID {
			t.Errorf("sender %s", ev.Sender)
		}
		if due := num(scheduled["scheduled_at"]) + 2000; ev.Timestamp < due {
			t.Errorf("sent at %d, due at %d", ev.Timestamp, due)
		}
		fin := waitFinalised(t, alice, delayID)
		if fin["event_id"] != ev.ID.String() {
			t.Errorf("finalised %v, event %s", fin, ev.ID)
		}
	})

	t.Run("cancelled never appears", func(t *testing.T) {
		delayID := scheduleMessage(t, alice, room.RoomID, "never", 1500*time.Millisecond)
		for i := 0; i < 2; i++ { // the second cancel is a retry and succeeds
			if status, body := rawCallPath(t, alice, "POST", msc4140+"/delayed_events/"+delayID+"/cancel", nil); status != 200 {
				t.Fatalf("cancel %d: %d %v", i, status, body)
			}
		}
		if status, body := rawCallPath(t, alice, "POST", msc4140+"/delayed_events/"+delayID+"/send", nil); status != 409 {
			t.Errorf("send after cancel: %d %v", status, body)
		}
		// A message sent after the delay ran out comes after where the
		// cancelled one would have been.
		time.Sleep(2 * time.Second)
		if _, err := alice.SendText(ctx, room.RoomID, "after never"); err != nil {
			t.Fatal(err)
		}
		if hasMessage(t, alice, room.RoomID, "never") != nil {
			t.Error("the cancelled message was sent")
		}
		if _, ev := delayedEvent(t, alice, delayID); ev["finalised_ts"] == nil || ev["event_id"] != nil {
			t.Errorf("cancelled: %v", ev)
		}
	})

	t.Run("restart postpones", func(t *testing.T) {
		delayID := scheduleMessage(t, alice, room.RoomID, "postponed", 3*time.Second)
		_, before := delayedEvent(t, alice, delayID)
		time.Sleep(time.Second)
		if status, body := rawCallPath(t, alice, "POST", msc4140+"/delayed_events/"+delayID+"/restart", nil); status != 200 {
			t.Fatalf("restart: %d %v", status, body)
		}
		_, after := delayedEvent(t, alice, delayID)
		restarted := num(after["scheduled_at"])
		if restarted < num(before["scheduled_at"])+900 || num(after["running_since"]) != restarted || num(after["delay"]) != 3000 {
			t.Fatalf("restart did not move the schedule: before %v, after %v", before, after)
		}
		ev := waitForMessage(t, alice, room.RoomID, "postponed")
		if ev.Timestamp < restarted+3000 {
			t.Errorf("sent at %d, before the restarted delay ended (%d)", ev.Timestamp, restarted+3000)
		}
	})

	t.Run("send now", func(t *testing.T) {
		delayID := scheduleMessage(t, alice, room.RoomID, "right away", time.Hour)
		if status, body := rawCallPath(t, alice, "POST", msc4140+"/delayed_events/"+delayID+"/send", nil); status != 200 {
			t.Fatalf("send: %d %v", status, body)
		}
		ev := hasMessage(t, alice, room.RoomID, "right away")
		if ev == nil {
			t.Fatal("not sent")
		}
		for _, action := range []string{"send", "cancel", "restart"} { // send again is a retry
			want := map[string]int{"send": 200, "cancel": 409, "restart": 409}[action]
			if status, body := rawCallPath(t, alice, "POST", msc4140+"/delayed_events/"+delayID+"/"+action, nil); status != want {
				t.Errorf("%s after send: %d %v, want %d", action, status, body, want)
			}
		}
		_, fin := rawCallPath(t, alice, "GET", msc4140+"/delayed_events?status=finalised&delay_id="+delayID, nil)
		list, _ := fin["finalised"].([]any)
		if len(list) != 1 {
			t.Fatalf("finalised: %v", fin)
		}
		f := list[0].(map[string]any)
		if f["outcome"] != "send" || f["reason"] != "action" || f["event_id"] != ev.ID.String() {
			t.Errorf("finalised entry: %v", f)
		}
	})

	t.Run("state event", func(t *testing.T) {
		key := "_" + alice.UserID.String() + "_DEVICE_m.call"
		path := fmt.Sprintf("/rooms/%s/state/org.matrix.msc3401.call.member/%s?org.matrix.msc4140.delay=800", room.RoomID, url.PathEscape(key))
		status, resp := rawCall(t, alice, "PUT", path, map[string]any{})
		if status != 200 || resp["delay_id"] == nil {
			t.Fatalf("schedule state: %d %v", status, resp)
		}
		fin := waitFinalised(t, alice, resp["delay_id"].(string))
		var content map[string]any
		err := alice.StateEvent(ctx, room.RoomID, event.NewEventType("org.matrix.msc3401.call.member"), key, &content)
		if err != nil || fin["event_id"] == nil {
			t.Errorf("state after the delay: %v %v", err, fin)
		}
	})

	t.Run("new endpoint", func(t *testing.T) {
		path := msc4140 + "/rooms/" + room.RoomID.String() + "/delayed_event/m.room.message/txn-new"
		status, resp := rawCallPath(t, alice, "PUT", path, map[string]any{"delay_ms": 300, "content": map[string]any{"msgtype": "m.text", "body": "new way"}})
		if status != 200 || resp["delay_id"] == nil {
			t.Fatalf("schedule: %d %v", status, resp)
		}
		if again, resp2 := rawCallPath(t, alice, "PUT", path, map[string]any{"delay_ms": 300, "content": map[string]any{"msgtype": "m.text", "body": "new way"}}); again != 200 || resp2["delay_id"] != resp["delay_id"] {
			t.Errorf("retry: %d %v, first %v", again, resp2, resp)
		}
		waitForMessage(t, alice, room.RoomID, "new way")
		for _, bad := range []map[string]any{{"content": map[string]any{}}, {"delay_ms": 0, "content": map[string]any{}}, {"delay_ms": 10, "content": "x"}} {
			if status, body := rawCallPath(t, alice, "PUT", msc4140+"/rooms/"+room.RoomID.String()+"/delayed_event/m.room.message/bad", bad); status != 400 || body["errcode"] != "M_BAD_JSON" {
				t.Errorf("%v: %d %v", bad, status, body)
			}
		}
	})

	t.Run("list and retried schedule", func(t *testing.T) {
		path := fmt.Sprintf("/rooms/%s/send/m.room.message/same-txn?org.matrix.msc4140.delay=%d", room.RoomID, time.Hour.Milliseconds())
		_, first := rawCall(t, alice, "PUT", path, map[string]any{"msgtype": "m.text", "body": "once"})
		_, second := rawCall(t, alice, "PUT", path, map[string]any{"msgtype": "m.text", "body": "once"})
		if first["delay_id"] == nil || first["delay_id"] != second["delay_id"] {
			t.Fatalf("a retried PUT scheduled twice: %v %v", first, second)
		}
		sooner := scheduleMessage(t, alice, room.RoomID, "sooner", 30*time.Minute)
		_, list := rawCallPath(t, alice, "GET", msc4140+"/delayed_events", nil)
		events, _ := list["delayed_events"].([]any)
		if len(events) != 2 {
			t.Fatalf("list: %v", list)
		}
		e0, e1 := events[0].(map[string]any), events[1].(map[string]any)
		if e0["delay_id"] != sooner || e1["delay_id"] != first["delay_id"] || e0["room_id"] != room.RoomID.String() ||
			e0["type"] != "m.room.message" || num(e0["delay"]) != 1800000 || num(e0["delay_ms"]) != 1800000 || e0["running_since"] == nil {
			t.Errorf("list order or fields: %v", events)
		}
		if c, _ := e0["content"].(map[string]any); c["body"] != "sooner" {
			t.Errorf("content %v", e0["content"])
		}
		if _, bobs := rawCallPath(t, bob, "GET", msc4140+"/delayed_events", nil); len(bobs["delayed_events"].([]any)) != 0 {
			t.Errorf("bob sees %v", bobs)
		}
		for _, id := range []string{sooner, first["delay_id"].(string)} {
			rawCallPath(t, alice, "POST", msc4140+"/delayed_events/"+id, map[string]any{"action": "cancel"})
		}
		if _, list := rawCallPath(t, alice, "GET", msc4140+"/delayed_events", nil); len(list["delayed_events"].([]any)) != 0 {
			t.Errorf("after cancelling through the older form: %v", list)
		}
	})

	t.Run("another user's delay id", func(t *testing.T) {
		delayID := scheduleMessage(t, alice, room.RoomID, "alice's", time.Hour)
		for _, action := range []string{"cancel", "restart", "send"} {
			if status, body := rawCallPath(t, bob, "POST", msc4140+"/delayed_events/"+delayID+"/"+action, nil); status != 404 || body["errcode"] != "M_NOT_FOUND" {
				t.Errorf("bob %s: %d %v", action, status, body)
			}
			if status, body := rawCallPath(t, bob, "POST", msc4140+"/delayed_events/"+delayID, map[string]any{"action": action}); status != 404 {
				t.Errorf("bob %s in body: %d %v", action, status, body)
			}
		}
		if status, body := delayedEvent(t, bob, delayID); status != 404 {
			t.Errorf("bob get: %d %v", status, body)
		}
		if status, ev := delayedEvent(t, alice, delayID); status != 200 || ev["finalised_ts"] != nil {
			t.Errorf("alice's event after bob's tries: %d %v", status, ev)
		}
		rawCallPath(t, alice, "POST", msc4140+"/delayed_events/"+delayID+"/cancel", nil)
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path string
			body               any
			status             int
			errcode            string
		}{
			{"delay over the maximum", "PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/long?org.matrix.msc4140.delay=%d", room.RoomID, (2 * time.Hour).Milliseconds()), map[string]any{}, 403, "M_FORBIDDEN"},
			{"negative delay", "PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/neg?org.matrix.msc4140.delay=-1", room.RoomID), map[string]any{}, 400, "M_INVALID_PARAM"},
			{"delay not a number", "PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/state/m.room.topic?org.matrix.msc4140.delay=soon", room.RoomID), map[string]any{"topic": "x"}, 400, "M_INVALID_PARAM"},
			{"unknown delay id", "POST", msc4140 + "/delayed_events/de_nope/cancel", nil, 404, "M_NOT_FOUND"},
			{"unknown action", "POST", msc4140 + "/delayed_events/de_nope/explode", nil, 400, "M_INVALID_PARAM"},
			{"action missing", "POST", msc4140 + "/delayed_events/de_nope", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"unknown status", "GET", msc4140 + "/delayed_events?status=maybe", nil, 400, "M_INVALID_PARAM"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := rawCallPath(t, alice, tc.method, tc.path, tc.body)
				if status != tc.status || body["errcode"] != tc.errcode {
					t.Errorf("%d %v, want %d %s", status, body, tc.status, tc.errcode)
				}
			})
		}
	})

	t.Run("at most max_delayed_events_per_user", func(t *testing.T) {
		carol := srv.Register(t, "carol")
		if _, err := carol.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			scheduleMessage(t, carol, room.RoomID, fmt.Sprintf("carol %d", i), time.Duration(10+i)*time.Minute)
		}
		path := fmt.Sprintf("/rooms/%s/send/m.room.message/sixth?org.matrix.msc4140.delay=1000", room.RoomID)
		status, body := rawCall(t, carol, "PUT", path, map[string]any{"msgtype": "m.text", "body": "sixth"})
		if wait := num(body["retry_after_ms"]); status != 429 || body["errcode"] != "M_LIMIT_EXCEEDED" || wait < 9*60*1000 || wait > 10*60*1000 {
			t.Errorf("sixth: %d %v", status, body)
		}
	})

	t.Run("overwritten by another user", func(t *testing.T) {
		path := fmt.Sprintf("/rooms/%s/state/m.room.topic?org.matrix.msc4140.delay=%d", room.RoomID, time.Hour.Milliseconds())
		_, mine := rawCall(t, alice, "PUT", path, map[string]any{"topic": "alice's later"})
		delayID, _ := mine["delay_id"].(string)
		// Alice's own topic leaves her delayed one alone...
		if _, err := alice.SendStateEvent(ctx, room.RoomID, event.StateTopic, "", map[string]any{"topic": "alice now"}); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.SendText(ctx, room.RoomID, "marker"); err != nil {
			t.Fatal(err)
		}
		waitForMessage(t, alice, room.RoomID, "marker")
		time.Sleep(300 * time.Millisecond)
		if _, ev := delayedEvent(t, alice, delayID); ev["finalised_ts"] != nil {
			t.Fatalf("alice's own state cancelled her delayed state: %v", ev)
		}
		// ...bob's cancels it.
		if _, err := bob.SendStateEvent(ctx, room.RoomID, event.StateTopic, "", map[string]any{"topic": "bob's"}); err != nil {
			t.Fatal(err)
		}
		if fin := waitFinalised(t, alice, delayID); fin["event_id"] != nil {
			t.Errorf("sent instead of cancelled: %v", fin)
		}
	})

	t.Run("refused when due", func(t *testing.T) {
		dave := srv.Register(t, "dave")
		if _, err := dave.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		delayID := scheduleMessage(t, dave, room.RoomID, "from the past", 2*time.Second)
		if _, err := dave.LeaveRoom(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		fin := waitFinalised(t, dave, delayID)
		e, _ := fin["error"].(map[string]any)
		if fin["event_id"] != nil || e["errcode"] != "M_FORBIDDEN" {
			t.Errorf("sent by someone who left: %v", fin)
		}
		if hasMessage(t, alice, room.RoomID, "from the past") != nil {
			t.Error("the message is in the room")
		}
	})
}

// Without max_event_delay_duration (Synapse's default) delayed events are
// refused and not advertised.
func TestDelayedEventsOff(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	status, body := rawCall(t, alice, "PUT", fmt.Sprintf("/rooms/%s/send/m.room.message/t?org.matrix.msc4140.delay=10", room.RoomID), map[string]any{"body": "x"})
	if status != 403 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("delayed send: %d %v", status, body)
	}
	if versions, err := alice.Versions(ctx); err != nil || versions.UnstableFeatures["org.matrix.msc4140"] {
		t.Errorf("versions: %v %v", err, versions)
	}
}

// A delayed event is in the database: one that fell due while the server
// was down is sent when it starts again.
func TestDelayedEventsAcrossRestart(t *testing.T) {
	t.Parallel()
	srv := apptest.StartWith(t, delayedConfig(t, 100))
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	due := scheduleMessage(t, alice, room.RoomID, "while down", time.Second)
	later := scheduleMessage(t, alice, room.RoomID, "after the restart", 4*time.Second)
	srv.Stop(t)
	time.Sleep(1500 * time.Millisecond)
	srv.Start(t)
	ev := waitForMessage(t, alice, room.RoomID, "while down")
	if fin := waitFinalised(t, alice, due); fin["event_id"] != ev.ID.String() {
		t.Errorf("finalised %v", fin)
	}
	waitForMessage(t, alice, room.RoomID, "after the restart")
	waitFinalised(t, alice, later)
}

// rc_delayed_event_mgmt bounds how often a user manages delayed events.
func TestDelayedEventsManagementRateLimit(t *testing.T) {
	t.Parallel()
	cfg := delayedConfig(t, 100)
	cfg.RateLimiting.Enabled = true
	cfg.RateLimits.RCDelayedEventMgmt = config.RateLimit{PerSecond: 0.01, BurstCount: 2}
	srv := apptest.StartWith(t, cfg)
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	delayID := scheduleMessage(t, alice, room.RoomID, "heartbeat", time.Hour)
	for i, want := range []int{200, 200, 429} {
		status, body := rawCallPath(t, alice, "POST", msc4140+"/delayed_events/"+delayID+"/restart", nil)
		if status != want || (want == 429 && body["errcode"] != "M_LIMIT_EXCEEDED") {
			t.Errorf("restart %d: %d %v, want %d", i, status, body, want)
		}
	}
}
