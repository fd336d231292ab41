package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/pushrules"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// pushGateway is a push gateway (as Sygnal would be) that records what
// it is sent and rejects the push keys it is told to.
type pushGateway struct {
	*httptest.Server
	mu       sync.Mutex
	received []gjson.Result
	reject   map[string]bool
}

func newPushGateway(t *testing.T) *pushGateway {
	g := &pushGateway{reject: map[string]bool{}}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/_matrix/push/v1/notify" || r.Method != http.MethodPost || !gjson.ValidBytes(body) {
			http.Error(w, "bad request", 400)
			return
		}
		n := gjson.GetBytes(body, "notification")
		g.mu.Lock()
		g.received = append(g.received, n)
		rejected := []string{}
		for _, d := range n.Get("devices").Array() {
			if g.reject[d.Get("pushkey").String()] {
				rejected = append(rejected, d.Get("pushkey").String())
			}
		}
		g.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"rejected": rejected})
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *pushGateway) url() string { return g.URL + "/_matrix/push/v1/notify" }

// waitFor returns the notification for an event, failing after a while.
func (g *pushGateway) waitFor(t *testing.T, eventID id.EventID) gjson.Result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if n, ok := g.find(eventID); ok {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the gateway got no notification for %s", eventID)
	return gjson.Result{}
}

func (g *pushGateway) find(eventID id.EventID) (gjson.Result, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.received {
		if n.Get("event_id").String() == string(eventID) {
			return n, true
		}
	}
	return gjson.Result{}, false
}

func setPusher(t *testing.T, cli *mautrix.Client, pushKey string, data map[string]any) {
	t.Helper()
	if status, body := rawCall(t, cli, "POST", "/pushers/set", map[string]any{"kind": "http", "app_id": "de.bund.messenger.android",
		"pushkey": pushKey, "app_display_name": "BundesMessenger", "device_display_name": "Diensthandy", "lang": "de", "data": data}); status != 200 {
		t.Fatalf("pushers/set: %d %v", status, body)
	}
}

// A phone's pusher: the gateway hears of messages that notify under the
// default rules and the user's room settings, of mentions with highlight
// and of invites, with the pusher's data but not its URL; a push key the
// gateway rejects is deleted.
func TestPushNotifications(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t) // the gateway runs on this host, which is allowed by default
	ctx := context.Background()
	gw := newPushGateway(t)
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	setPusher(t, bob, "fcm-token-bob", map[string]any{"url": gw.url(), "custom": "kept"})

	_, body := rawCall(t, bob, "GET", "/pushers", nil)
	if p := gjsonOf(body).Get("pushers"); len(p.Array()) != 1 || p.Get("0.pushkey").String() != "fcm-token-bob" ||
		p.Get("0.data.url").String() != gw.url() || p.Get("0.kind").String() != "http" {
		t.Fatalf("GET /pushers: %v", body)
	}

	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	// The invite.
	invite := gw.waitForType(t, room.RoomID, "m.room.member")
	if !invite.Get("user_is_target").Bool() || invite.Get("devices.0.tweaks.sound").String() != "default" {
		t.Errorf("invite notification: %s", invite.Raw)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}

	notice, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgNotice, Body: "Bot: Wartung heute Nacht"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := alice.SendText(ctx, room.RoomID, "Sitzung um 10 Uhr")
	if err != nil {
		t.Fatal(err)
	}
	n := gw.waitFor(t, msg.EventID)
	if n.Get("room_id").String() != string(room.RoomID) || n.Get("type").String() != "m.room.message" ||
		n.Get("sender").String() != alice.UserID.String() || n.Get("content.body").String() != "Sitzung um 10 Uhr" ||
		n.Get("prio").String() != "high" {
		t.Errorf("message notification: %s", n.Raw)
	}
	d := n.Get("devices.0")
	if d.Get("app_id").String() != "de.bund.messenger.android" || d.Get("pushkey").String() != "fcm-token-bob" ||
		d.Get("data.custom").String() != "kept" || d.Get("data.url").Exists() || d.Get("tweaks.highlight").Bool() ||
		d.Get("tweaks.sound").String() != "default" { // two members: a direct chat
		t.Errorf("device of the notification: %s", d.Raw)
	}
	if _, ok := gw.find(notice.EventID); ok {
		t.Error("a notice was pushed (.m.rule.suppress_notices)")
	}
	if n.Get("counts.unread").Int() != 1 || n.Get("sender_display_name").String() == "" {
		t.Errorf("badge or sender name of the message notification: %s", n.Raw)
	}
	// Reading the room takes the badge down to zero.
	if err := bob.MarkRead(ctx, room.RoomID, msg.EventID); err != nil {
		t.Fatal(err)
	}
	badge := gw.waitForBadge(t, 0)
	if badge.Get("event_id").Exists() || badge.Get("devices.0.pushkey").String() != "fcm-token-bob" {
		t.Errorf("badge update: %s", badge.Raw)
	}
	if _, err := alice.SendStateEvent(ctx, room.RoomID, event.StateRoomName, "", &event.RoomNameEventContent{Name: "Referat 4"}); err != nil {
		t.Fatal(err)
	}
	named, err := alice.SendText(ctx, room.RoomID, "mit Namen")
	if err != nil {
		t.Fatal(err)
	}
	if n := gw.waitFor(t, named.EventID); n.Get("room_name").String() != "Referat 4" {
		t.Errorf("room_name: %s", n.Raw)
	}

	// "Mentions and keywords" for the room: plain messages stay quiet,
	// a mention comes through highlighted.
	if err := bob.PutPushRule(ctx, "global", "room", string(room.RoomID), &mautrix.ReqPutPushRule{Actions: []pushrules.PushActionType{}}); err != nil {
		t.Fatal(err)
	}
	quiet, err := alice.SendText(ctx, room.RoomID, "nur zur Info")
	if err != nil {
		t.Fatal(err)
	}
	mention, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText,
		Body: "Bob, bitte prüfen", Mentions: &event.Mentions{UserIDs: []id.UserID{bob.UserID}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := gw.waitFor(t, mention.EventID); !n.Get("devices.0.tweaks.highlight").Bool() {
		t.Errorf("mention without highlight: %s", n.Raw)
	}
	if _, ok := gw.find(quiet.EventID); ok {
		t.Error("a plain message was pushed in a mentions-only room")
	}
	// Bob's own messages are not pushed to him.
	own, err := bob.SendText(ctx, room.RoomID, "Erledigt")
	if err != nil {
		t.Fatal(err)
	}

	// The gateway no longer knows the phone: the pusher goes.
	gw.mu.Lock()
	gw.reject["fcm-token-bob"] = true
	gw.mu.Unlock()
	last, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText,
		Body: "@bob?", Mentions: &event.Mentions{UserIDs: []id.UserID{bob.UserID}}})
	if err != nil {
		t.Fatal(err)
	}
	gw.waitFor(t, last.EventID)
	if _, ok := gw.find(own.EventID); ok {
		t.Error("bob's own message was pushed to him")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := rawCall(t, bob, "GET", "/pushers", nil)
		if len(gjsonOf(body).Get("pushers").Array()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rejected pusher is still there: %v", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForBadge returns the first badge-only notification with this count.
func (g *pushGateway) waitForBadge(t *testing.T, unread int64) gjson.Result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		for _, n := range g.received {
			if !n.Get("event_id").Exists() && n.Get("counts.unread").Exists() && n.Get("counts.unread").Int() == unread {
				g.mu.Unlock()
				return n
			}
		}
		g.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the gateway got no badge update to %d", unread)
	return gjson.Result{}
}

// waitForType returns the first notification of an event type in a room.
func (g *pushGateway) waitForType(t *testing.T, room id.RoomID, evType string) gjson.Result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		for _, n := range g.received {
			if n.Get("room_id").String() == string(room) && n.Get("type").String() == evType {
				g.mu.Unlock()
				return n
			}
		}
		g.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the gateway got no %s in %s", evType, room)
	return gjson.Result{}
}

// Pushers belong to the login that set them: a logout ends them, a
// password change ends those of the other logins, and append keeps a
// push key shared by two users.
func TestPushersFollowLogins(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	phone := loginAgain(t, srv, alice, "PHONE")
	tablet := loginAgain(t, srv, alice, "TABLET")
	data := map[string]any{"url": "https://push.example.org/_matrix/push/v1/notify"}
	setPusher(t, phone, "key-phone", data)
	setPusher(t, tablet, "key-tablet", data)
	setPusher(t, alice, "key-main", data)
	pushKeys := func(cli *mautrix.Client) []string {
		_, body := rawCall(t, cli, "GET", "/pushers", nil)
		var keys []string
		for _, p := range gjsonOf(body).Get("pushers").Array() {
			keys = append(keys, p.Get("pushkey").String())
		}
		return keys
	}
	if got := pushKeys(alice); len(got) != 3 {
		t.Fatalf("pushers: %v", got)
	}
	if _, err := tablet.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pushKeys(alice); len(got) != 2 {
		t.Errorf("after the tablet logged out: %v", got)
	}
	if _, err := alice.MakeRequest(ctx, "POST", alice.BuildClientURL("v3", "account", "password"), map[string]any{
		"new_password": "ein neues Passwort", "logout_devices": true,
		"auth": map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": alice.UserID.String()},
			"password": "correct horse battery staple"}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := pushKeys(alice); len(got) != 1 || got[0] != "key-main" {
		t.Errorf("after a password change: %v, want only the changing login's", got)
	}

	// The same phone, now bob's: without append alice's pusher goes.
	setPusher(t, bob, "key-main", data)
	if got := pushKeys(alice); len(got) != 0 {
		t.Errorf("alice kept a push key bob took over: %v", got)
	}
	setPusher(t, alice, "key-main", data)
	if status, body := rawCall(t, bob, "POST", "/pushers/set", map[string]any{"kind": "http", "app_id": "de.bund.messenger.android",
		"pushkey": "key-main", "app_display_name": "BundesMessenger", "device_display_name": "Diensthandy", "lang": "de", "data": data,
		"append": true}); status != 200 {
		t.Fatalf("append: %d %v", status, body)
	}
	if len(pushKeys(alice)) != 1 || len(pushKeys(bob)) != 1 {
		t.Errorf("with append both keep the key: %v %v", pushKeys(alice), pushKeys(bob))
	}
	// kind null deletes.
	if status, _ := rawCall(t, bob, "POST", "/pushers/set", map[string]any{"kind": nil, "app_id": "de.bund.messenger.android", "pushkey": "key-main"}); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	if got := pushKeys(bob); len(got) != 0 {
		t.Errorf("after kind null: %v", got)
	}
}

// Bad pushers get the spec's errors.
func TestPusherBadInput(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	good := func(change map[string]any) map[string]any {
		p := map[string]any{"kind": "http", "app_id": "de.bund.messenger.ios", "pushkey": "apns-token", "app_display_name": "BundesMessenger",
			"device_display_name": "iPhone", "lang": "de", "data": map[string]any{"url": "https://push.example.org/_matrix/push/v1/notify"}}
		for k, v := range change {
			if v == nil {
				delete(p, k)
			} else {
				p[k] = v
			}
		}
		return p
	}
	long := make([]byte, 513)
	for i := range long {
		long[i] = 'k'
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"no kind", good(map[string]any{"kind": nil}), "M_MISSING_PARAM"},
		{"no app_id", good(map[string]any{"app_id": nil}), "M_MISSING_PARAM"},
		{"no lang", good(map[string]any{"lang": nil}), "M_MISSING_PARAM"},
		{"no data", good(map[string]any{"data": nil}), "M_MISSING_PARAM"},
		{"no url", good(map[string]any{"data": map[string]any{"format": "event_id_only"}}), "M_MISSING_PARAM"},
		{"wrong path", good(map[string]any{"data": map[string]any{"url": "https://push.example.org/notify"}}), "M_INVALID_PARAM"},
		{"not a URL", good(map[string]any{"data": map[string]any{"url": "push gateway"}}), "M_INVALID_PARAM"},
		{"email pusher", good(map[string]any{"kind": "email"}), "M_INVALID_PARAM"},
		{"long push key", good(map[string]any{"pushkey": string(long)}), "M_INVALID_PARAM"},
		{"data not an object", good(map[string]any{"data": "https://push.example.org/_matrix/push/v1/notify"}), "M_BAD_JSON"},
	} {
		status, body := rawCall(t, alice, "POST", "/pushers/set", tc.body)
		if status != 400 || body["errcode"] != tc.code {
			t.Errorf("%s: %d %v, want 400 %s", tc.name, status, body, tc.code)
		}
	}
	if _, body := rawCall(t, alice, "GET", "/pushers", nil); len(gjsonOf(body).Get("pushers").Array()) != 0 {
		t.Errorf("a refused pusher was stored: %v", body)
	}
}

// GET /notifications lists what notified the user, newest first, with
// highlights, read flags, pagination and the user's room settings.
func TestNotificationsList(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	first, _ := alice.SendText(ctx, room.RoomID, "eins")
	if _, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgNotice, Body: "Hinweis"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendText(ctx, room.RoomID, "eigene"); err != nil {
		t.Fatal(err)
	}
	second, _ := alice.SendText(ctx, room.RoomID, "zwei")
	mention, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText,
		Body: "Bob?", Mentions: &event.Mentions{UserIDs: []id.UserID{bob.UserID}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.MarkRead(ctx, room.RoomID, second.EventID); err != nil {
		t.Fatal(err)
	}
	list := func(query string) gjson.Result {
		t.Helper()
		status, body := rawCall(t, bob, "GET", "/notifications"+query, nil)
		if status != 200 {
			t.Fatalf("GET /notifications%s: %d %v", query, status, body)
		}
		return gjsonOf(body)
	}
	all := list("")
	var ids []string
	for _, n := range all.Get("notifications").Array() {
		ids = append(ids, n.Get("event.event_id").String())
	}
	want := []string{mention.EventID.String(), second.EventID.String(), first.EventID.String()}
	if len(ids) != 3 || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] {
		t.Fatalf("notifications %v, want %v", ids, want)
	}
	n := all.Get("notifications")
	if n.Get("0.read").Bool() || !n.Get("1.read").Bool() || !n.Get("2.read").Bool() || n.Get("0.room_id").String() != string(room.RoomID) ||
		n.Get("0.actions.1.set_tweak").String() != "highlight" || n.Get("1.actions.#").Int() != 1 || n.Get("0.ts").Int() == 0 ||
		!n.Get("0.profile_tag").Exists() || all.Get("next_token").Exists() {
		t.Errorf("notifications: %s", all.Raw)
	}
	if hl := list("?only=highlight").Get("notifications"); len(hl.Array()) != 1 || hl.Get("0.event.event_id").String() != mention.EventID.String() {
		t.Errorf("only=highlight: %s", hl.Raw)
	}
	page := list("?limit=2")
	if len(page.Get("notifications").Array()) != 2 || !page.Get("next_token").Exists() {
		t.Fatalf("first page: %s", page.Raw)
	}
	rest := list("?limit=2&from=" + page.Get("next_token").String())
	if len(rest.Get("notifications").Array()) != 1 || rest.Get("notifications.0.event.event_id").String() != first.EventID.String() {
		t.Errorf("second page: %s", rest.Raw)
	}
	// A muted room notifies of nothing.
	if err := bob.PutPushRule(ctx, "global", "override", string(room.RoomID), &mautrix.ReqPutPushRule{Actions: []pushrules.PushActionType{},
		Conditions: []pushrules.PushCondition{{Kind: pushrules.KindEventMatch, Key: "room_id", Pattern: string(room.RoomID)}}}); err != nil {
		t.Fatal(err)
	}
	if muted := list("").Get("notifications"); len(muted.Array()) != 0 {
		t.Errorf("a muted room: %s", muted.Raw)
	}
	for _, q := range []string{"?from=x", "?from=-3", "?limit=zwei"} {
		if status, body := rawCall(t, bob, "GET", "/notifications"+q, nil); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
			t.Errorf("%s: %d %v", q, status, body)
		}
	}
}
