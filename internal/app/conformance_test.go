package app_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Client-Server conformance (issue 15): behaviours an outside test run
// found to differ from the spec.

// TestHierarchyFollowsOnlySpaces: m.space.child events of a room that is
// not a space are neither walked nor shown in its children_state.
func TestHierarchyFollowsOnlySpaces(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	create := func(name string, space bool) id.RoomID {
		t.Helper()
		req := &mautrix.ReqCreateRoom{Preset: "public_chat", Name: name}
		if space {
			req.CreationContent = map[string]any{"type": "m.space"}
		}
		resp, err := alice.CreateRoom(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.RoomID
	}
	space, lobby, back := create("Behörde", true), create("Foyer", false), create("Hinterzimmer", false)
	for _, pc := range [][2]id.RoomID{{space, lobby}, {lobby, back}} {
		if _, err := alice.SendStateEvent(ctx, pc[0], event.StateSpaceChild, pc[1].String(),
			map[string]any{"via": []string{"localhost"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		root id.RoomID
		want string
	}{{space, "Behörde Foyer"}, {lobby, "Foyer"}} {
		status, body := rawCallV1(t, alice, "GET", "/rooms/"+url.PathEscape(tc.root.String())+"/hierarchy")
		if status != 200 {
			t.Fatalf("hierarchy of %s: %d %v", tc.root, status, body)
		}
		var names []string
		rooms, _ := body["rooms"].([]any)
		for _, r := range rooms {
			room := r.(map[string]any)
			names = append(names, room["name"].(string))
			if cs, _ := room["children_state"].([]any); room["name"] == "Foyer" && len(cs) != 0 {
				t.Errorf("the children_state of a room that is not a space: %v", cs)
			}
		}
		if strings.Join(names, " ") != tc.want {
			t.Errorf("hierarchy of %s: %v, want %s", tc.root, names, tc.want)
		}
	}
}

// TestCreatorsInPowerLevelsAre400: in room version 12 creators have
// unlimited power and may not be listed in the power levels' users; a
// power levels event that lists one, or a second create event, is a
// malformed request (400) refused before event auth, not a 403.
func TestCreatorsInPowerLevelsAre400(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	aliceID, bobID := alice.UserID.String(), bob.UserID.String()
	create := func(body map[string]any) (int, map[string]any) {
		t.Helper()
		return rawCall(t, alice, "POST", "/createRoom", body)
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"v12, the creator listed", map[string]any{"room_version": "12",
			"power_level_content_override": map[string]any{"users": map[string]any{aliceID: 100}}}, 400},
		{"v12, an additional creator listed", map[string]any{"room_version": "12",
			"creation_content":             map[string]any{"additional_creators": []string{bobID}},
			"power_level_content_override": map[string]any{"users": map[string]any{bobID: 50}}}, 400},
		{"v12, the creator listed in initial_state", map[string]any{"room_version": "12",
			"initial_state": []any{map[string]any{"type": "m.room.power_levels", "state_key": "",
				"content": map[string]any{"users": map[string]any{aliceID: 100}}}}}, 400},
		{"v12, another user listed", map[string]any{"room_version": "12",
			"power_level_content_override": map[string]any{"users": map[string]any{bobID: 50}}}, 200},
		{"v11, the creator listed", map[string]any{"room_version": "11",
			"power_level_content_override": map[string]any{"users": map[string]any{aliceID: 100}}}, 200},
	} {
		status, body := create(tc.body)
		if status != tc.status || (status == 400 && body["errcode"] != "M_BAD_JSON") {
			t.Errorf("createRoom %s: %d %v, want %d", tc.name, status, body, tc.status)
		}
	}

	status, body := create(map[string]any{"room_version": "12", "preset": "public_chat",
		"creation_content": map[string]any{"additional_creators": []string{bobID}}})
	if status != 200 {
		t.Fatalf("createRoom: %d %v", status, body)
	}
	room := body["room_id"].(string)
	if status, body := rawCall(t, bob, "POST", "/join/"+url.PathEscape(room), map[string]any{}); status != 200 {
		t.Fatalf("join: %d %v", status, body)
	}
	path := "/rooms/" + url.PathEscape(room) + "/state/"
	for _, user := range []string{aliceID, bobID} {
		status, body := rawCall(t, alice, "PUT", path+"m.room.power_levels", map[string]any{"users": map[string]any{user: 100}})
		if status != 400 || body["errcode"] != "M_BAD_JSON" {
			t.Errorf("power levels listing the creator %s: %d %v, want 400 M_BAD_JSON", user, status, body)
		}
	}
	if status, body := rawCall(t, alice, "PUT", path+"m.room.power_levels",
		map[string]any{"users": map[string]any{"@carol:localhost": 50}}); status != 200 {
		t.Errorf("power levels listing another user: %d %v", status, body)
	}
	// A second create event, in any room version.
	resp, err := alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{RoomVersion: "10"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{room, resp.RoomID.String()} {
		status, body := rawCall(t, alice, "PUT", "/rooms/"+url.PathEscape(r)+"/state/m.room.create",
			map[string]any{"room_version": "12"})
		if status != 400 || body["errcode"] != "M_INVALID_PARAM" {
			t.Errorf("a second create event in %s: %d %v, want 400 M_INVALID_PARAM", r, status, body)
		}
	}
}

// TestCrossSigningReuploadNeedsNoAuth: uploading exactly the keys the
// user has needs no interactive auth (spec v1.11, MSC3967), so a client
// may retry an upload whose answer it lost; a new key still does.
func TestCrossSigningReuploadNeedsNoAuth(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	user := alice.UserID.String()
	master, selfSigning, userSigning, other := newTestKey(t), newTestKey(t), newTestKey(t), newTestKey(t)
	key := func(usage string, k testKey) map[string]any {
		return map[string]any{"user_id": user, "usage": []string{usage}, "keys": map[string]any{"ed25519:" + k.b64(): k.b64()}}
	}
	signed := func(usage string, k testKey) map[string]any {
		return master.sign(t, user, "ed25519:"+master.b64(), key(usage, k))
	}
	all := map[string]any{"master_key": key("master", master), "self_signing_key": signed("self_signing", selfSigning),
		"user_signing_key": signed("user_signing", userSigning)}
	upload := func(body map[string]any) (int, map[string]any) {
		t.Helper()
		return rawCall(t, alice, http.MethodPost, "/keys/device_signing/upload", body)
	}
	if status, body := upload(all); status != 200 {
		t.Fatalf("first upload: %d %v", status, body)
	}
	for name, body := range map[string]map[string]any{
		"the same keys":         all,
		"the same master key":   {"master_key": key("master", master)},
		"the same signing keys": {"self_signing_key": all["self_signing_key"], "user_signing_key": all["user_signing_key"]},
	} {
		if status, resp := upload(body); status != 200 {
			t.Errorf("%s again: %d %v, want 200 without auth", name, status, resp)
		}
	}
	for name, body := range map[string]map[string]any{
		"a new master key":       {"master_key": key("master", other)},
		"a new self-signing key": {"master_key": key("master", master), "self_signing_key": signed("self_signing", other)},
		"a new user-signing key": {"user_signing_key": signed("user_signing", other)},
	} {
		if status, resp := upload(body); status != 401 || resp["flows"] == nil {
			t.Errorf("%s: %d %v, want 401 asking for auth", name, status, resp)
		}
	}
	// Nothing was replaced.
	status, resp := rawCall(t, alice, http.MethodPost, "/keys/query", map[string]any{"device_keys": map[string]any{user: []string{}}})
	if status != 200 || gjsonOf(resp).Get("self_signing_keys."+strings.ReplaceAll(user, ".", `\.`)+".keys.ed25519:"+strings.ReplaceAll(selfSigning.b64(), ".", `\.`)).String() != selfSigning.b64() {
		t.Errorf("keys after the uploads: %d %v", status, resp)
	}
}

// TestInitialSyncHasPushRules: a new user's first /sync carries
// m.push_rules in the global account data: the spec's default rules,
// although the user never changed one.
func TestInitialSyncHasPushRules(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	status, body := rawCall(t, alice, http.MethodGet, "/sync", nil)
	if status != 200 {
		t.Fatalf("sync: %d %v", status, body)
	}
	var rules map[string]any
	ad, _ := body["account_data"].(map[string]any)
	evs, _ := ad["events"].([]any)
	for _, e := range evs {
		if ev := e.(map[string]any); ev["type"] == "m.push_rules" {
			rules, _ = ev["content"].(map[string]any)
		}
	}
	g := gjsonOf(rules)
	if !g.Get(`global.override.#(rule_id==".m.rule.master")`).Exists() ||
		!g.Get(`global.underride.#(rule_id==".m.rule.message")`).Exists() {
		t.Fatalf("m.push_rules of the initial sync: %v", rules)
	}
	// Once changed, the whole ruleset, defaults included, comes along.
	if status, body := rawCall(t, alice, http.MethodPut, "/pushrules/global/room/"+url.PathEscape("!a:localhost"),
		map[string]any{"actions": []string{}}); status != 200 {
		t.Fatalf("put rule: %d %v", status, body)
	}
	_, body = rawCall(t, alice, http.MethodGet, "/sync", nil)
	g = gjsonOf(body).Get(`account_data.events.#(type=="m.push_rules").content.global`)
	if !g.Get(`room.#(rule_id=="!a:localhost")`).Exists() || !g.Get(`override.#(rule_id==".m.rule.master")`).Exists() {
		t.Fatalf("m.push_rules after a change: %v", g)
	}
}

// TestForgottenRoomHistoryIs403: after forgetting a room, its history is
// no longer the user's to read: /messages and /context answer 403.
func TestForgottenRoomHistoryIs403(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	resp, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID
	if _, err := bob.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	sent, err := alice.SendText(ctx, room, "vor dem Vergessen")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.LeaveRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	paths := []string{"/rooms/" + url.PathEscape(room.String()) + "/messages?dir=b",
		"/rooms/" + url.PathEscape(room.String()) + "/context/" + url.PathEscape(sent.EventID.String())}
	for _, p := range paths {
		if status, body := rawCall(t, bob, http.MethodGet, p, nil); status != 200 {
			t.Fatalf("%s after leaving: %d %v", p, status, body)
		}
	}
	if _, err := bob.ForgetRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if status, body := rawCall(t, bob, http.MethodGet, p, nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
			t.Errorf("%s after forgetting: %d %v, want 403", p, status, body)
		}
	}
}

// TestRichTopics: m.room.topic carries the m.topic content block (spec
// v1.15), also when createRoom's topic sets it; a malformed block is
// refused.
func TestRichTopics(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	status, body := rawCall(t, alice, http.MethodPost, "/createRoom", map[string]any{"topic": "Kaffee & Kuchen"})
	if status != 200 {
		t.Fatalf("createRoom: %d %v", status, body)
	}
	path := "/rooms/" + url.PathEscape(body["room_id"].(string)) + "/state/m.room.topic"
	_, topic := rawCall(t, alice, http.MethodGet, path, nil)
	g := gjsonOf(topic)
	if g.Get("topic").String() != "Kaffee & Kuchen" || g.Get(`m\.topic.m\.text.#`).Int() != 1 ||
		g.Get(`m\.topic.m\.text.0.body`).String() != "Kaffee & Kuchen" || g.Get(`m\.topic.m\.text.0.mimetype`).String() != "text/plain" {
		t.Errorf("createRoom's topic: %v", topic)
	}
	rich := map[string]any{"topic": "Ein Thema", "m.topic": map[string]any{"m.text": []any{
		map[string]any{"mimetype": "text/html", "body": "Ein <em>Thema</em>"}, map[string]any{"body": "Ein Thema"}}}}
	if status, body := rawCall(t, alice, http.MethodPut, path, rich); status != 200 {
		t.Fatalf("put a rich topic: %d %v", status, body)
	}
	if _, topic := rawCall(t, alice, http.MethodGet, path, nil); gjsonOf(topic).Get(`m\.topic.m\.text.0.body`).String() != "Ein <em>Thema</em>" {
		t.Errorf("the rich topic read back: %v", topic)
	}
	for _, bad := range []map[string]any{
		{"topic": "x", "m.topic": map[string]any{"m.text": "x"}},
		{"topic": "x", "m.topic": map[string]any{"m.text": []any{map[string]any{"mimetype": "text/plain"}}}},
		{"topic": "x", "m.topic": map[string]any{"m.text": []any{map[string]any{"body": "x", "mimetype": 1}}}},
	} {
		if status, body := rawCall(t, alice, http.MethodPut, path, bad); status != 400 || body["errcode"] != "M_BAD_JSON" {
			t.Errorf("put %v: %d %v, want 400 M_BAD_JSON", bad, status, body)
		}
	}
}

// TestPostcontentPushRuleKind: the postcontent kind (MSC4306, between
// content and room) is listed and readable; clients may not create
// rules in it (400 M_INVALID_PARAM).
func TestPostcontentPushRuleKind(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	status, body := rawCall(t, alice, http.MethodGet, "/pushrules/", nil)
	if pc, ok := gjsonOf(body).Get("global.postcontent").Value().([]any); status != 200 || !ok || len(pc) != 0 {
		t.Errorf("GET /pushrules/: %d, postcontent %v", status, gjsonOf(body).Get("global.postcontent"))
	}
	var kinds []string
	gjsonOf(body).Get("global").ForEach(func(k, _ gjson.Result) bool {
		kinds = append(kinds, k.String())
		return true
	})
	slices.Sort(kinds)
	if strings.Join(kinds, " ") != "content override postcontent room sender underride" {
		t.Errorf("kinds: %v", kinds)
	}
	req, _ := http.NewRequest(http.MethodGet, alice.HomeserverURL.String()+"/_matrix/client/v3/pushrules/global/postcontent/", nil)
	req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(raw)) != "[]" {
		t.Errorf("GET /pushrules/global/postcontent/: %d %s", resp.StatusCode, raw)
	}
	status, body = rawCall(t, alice, http.MethodPut, "/pushrules/global/postcontent/mine",
		map[string]any{"actions": []string{"notify"}, "conditions": []any{}})
	if status != 400 || body["errcode"] != "M_INVALID_PARAM" {
		t.Errorf("PUT a postcontent rule: %d %v, want 400 M_INVALID_PARAM", status, body)
	}
	if status, body := rawCall(t, alice, http.MethodGet, "/pushrules/global/postcontent/mine", nil); status != 404 {
		t.Errorf("GET a missing postcontent rule: %d %v, want 404", status, body)
	}
}

// TestUpgradeCopiesRoomPushRules: the user's push rules about a room
// (Element's "mentions only" room rule, its mute override) are copied to
// the replacement room, for the upgrader and for members joining later.
func TestUpgradeCopiesRoomPushRules(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	resp, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	old := resp.RoomID.String()
	if _, err := bob.JoinRoomByID(ctx, resp.RoomID); err != nil {
		t.Fatal(err)
	}
	put := func(cli *mautrix.Client, kind, id string, body map[string]any) {
		t.Helper()
		if status, resp := rawCall(t, cli, http.MethodPut, "/pushrules/global/"+kind+"/"+url.PathEscape(id), body); status != 200 {
			t.Fatalf("put %s rule: %d %v", kind, status, resp)
		}
	}
	put(alice, "room", old, map[string]any{"actions": []any{}})
	put(bob, "override", old, map[string]any{"actions": []any{},
		"conditions": []any{map[string]any{"kind": "event_match", "key": "room_id", "pattern": old}}})
	if status, resp := rawCall(t, bob, http.MethodPut, "/pushrules/global/override/"+url.PathEscape(old)+"/enabled",
		map[string]any{"enabled": false}); status != 200 {
		t.Fatalf("disable: %d %v", status, resp)
	}
	status, body := rawCall(t, alice, http.MethodPost, "/rooms/"+url.PathEscape(old)+"/upgrade", map[string]any{"new_version": "11"})
	if status != 200 {
		t.Fatalf("upgrade: %d %v", status, body)
	}
	replacement := body["replacement_room"].(string)
	status, rule := rawCall(t, alice, http.MethodGet, "/pushrules/global/room/"+url.PathEscape(replacement), nil)
	if status != 200 || rule["rule_id"] != replacement || len(rule["actions"].([]any)) != 0 {
		t.Errorf("alice's room rule for the replacement: %d %v", status, rule)
	}
	if status, _ := rawCall(t, alice, http.MethodGet, "/pushrules/global/room/"+url.PathEscape(old), nil); status != 200 {
		t.Errorf("alice's room rule for the old room is gone: %d", status)
	}
	if status, body := rawCall(t, bob, http.MethodPost, "/join/"+url.PathEscape(replacement), map[string]any{}); status != 200 {
		t.Fatalf("bob joins the replacement: %d %v", status, body)
	}
	status, rule = rawCall(t, bob, http.MethodGet, "/pushrules/global/override/"+url.PathEscape(replacement), nil)
	if status != 200 || gjsonOf(rule).Get("conditions.0.pattern").String() != replacement || rule["enabled"] != false {
		t.Errorf("bob's override rule for the replacement: %d %v", status, rule)
	}
}

// TestUserDirectoryShowsGlobalProfile: the user directory shows a local
// user's global display name and avatar, not a per-room nickname, and
// finds them by the global name.
func TestUserDirectoryShowsGlobalProfile(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	if err := alice.SetDisplayName(ctx, "Alice Weltweit"); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetAvatarURL(ctx, id.MustParseContentURI("mxc://localhost/global")); err != nil {
		t.Fatal(err)
	}
	resp, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.JoinRoomByID(ctx, resp.RoomID); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendStateEvent(ctx, resp.RoomID, event.StateMember, alice.UserID.String(), map[string]any{
		"membership": "join", "displayname": "Zimmername", "avatar_url": "mxc://localhost/room"}); err != nil {
		t.Fatal(err)
	}
	search := func(term string) map[string]any {
		t.Helper()
		status, body := rawCall(t, bob, http.MethodPost, "/user_directory/search", map[string]any{"search_term": term})
		if status != 200 {
			t.Fatalf("search %q: %d %v", term, status, body)
		}
		results, _ := body["results"].([]any)
		for _, r := range results {
			if u := r.(map[string]any); u["user_id"] == alice.UserID.String() {
				return u
			}
		}
		return nil
	}
	for _, term := range []string{"weltweit", alice.UserID.Localpart()} {
		u := search(term)
		if u == nil || u["display_name"] != "Alice Weltweit" || u["avatar_url"] != "mxc://localhost/global" {
			t.Errorf("search %q: %v, want the global profile", term, u)
		}
	}
	if u := search("zimmername"); u != nil {
		t.Errorf("a per-room nickname finds the user: %v", u)
	}
}

// TestTypingStoppedSinceToken: a /sync from a token older than a typing
// start that has since stopped delivers the room's current typing list,
// empty, so a client that saw the start clears it.
func TestTypingStoppedSinceToken(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	resp, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID
	if _, err := bob.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	_, first := rawCall(t, bob, http.MethodGet, "/sync", nil)
	since := first["next_batch"].(string)
	typing := func(body map[string]any) (string, bool) {
		ev := gjsonOf(body).Get(`rooms.join.` + strings.ReplaceAll(room.String(), ".", `\.`) + `.ephemeral.events.#(type=="m.typing")`)
		if !ev.Exists() {
			return "", false
		}
		var users []string
		for _, u := range ev.Get("content.user_ids").Array() {
			users = append(users, u.String())
		}
		return strings.Join(users, ","), true
	}
	if _, err := alice.UserTyping(ctx, room, true, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// Bob's client sees alice typing.
	_, body := rawCall(t, bob, http.MethodGet, "/sync?timeout=5000&since="+url.QueryEscape(since), nil)
	if users, ok := typing(body); !ok || users != alice.UserID.String() {
		t.Fatalf("typing after the start: %q %v", users, ok)
	}
	if _, err := alice.UserTyping(ctx, room, false, 0); err != nil {
		t.Fatal(err)
	}
	// A sync from the token before the start, once the stop is in,
	// carries the empty list.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := rawCall(t, bob, http.MethodGet, "/sync?timeout=0&since="+url.QueryEscape(since), nil)
		users, ok := typing(body)
		if ok && users == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("typing from the old token after the stop: %q %v, want an empty list", users, ok)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUnsignedMembership: events in /sync, /messages, /context and
// /event carry unsigned.membership, the requester's membership at the
// event, the event's own change included (spec v1.11); "leave" before
// they had any.
func TestUnsignedMembership(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	resp, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID
	send := func(body string) id.EventID {
		t.Helper()
		r, err := alice.SendText(ctx, room, body)
		if err != nil {
			t.Fatal(err)
		}
		return r.EventID
	}
	beforeInvite := send("vorher")
	if _, err := alice.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: bob.UserID}); err != nil {
		t.Fatal(err)
	}
	whileInvited := send("eingeladen")
	if _, err := bob.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	afterJoin := send("danach")
	want := map[string]string{"vorher": "leave", "eingeladen": "invite", "danach": "join",
		"invite " + bob.UserID.String(): "invite", "join " + bob.UserID.String(): "join"}
	key := func(ev gjson.Result) string {
		if ev.Get("type").String() == "m.room.member" {
			return ev.Get("content.membership").String() + " " + ev.Get("state_key").String()
		}
		return ev.Get("content.body").String()
	}
	check := func(where string, evs []gjson.Result) {
		t.Helper()
		seen := 0
		for _, ev := range evs {
			k := key(ev)
			got := ev.Get(`unsigned.membership`).String()
			if w, ok := want[k]; ok {
				seen++
				if got != w {
					t.Errorf("%s: %s has membership %q, want %q", where, k, got, w)
				}
			} else if got == "" {
				t.Errorf("%s: %s has no membership", where, k)
			}
		}
		if seen == 0 {
			t.Errorf("%s: none of the events looked for", where)
		}
	}
	roomPath := "/rooms/" + url.PathEscape(room.String())
	_, body := rawCall(t, bob, http.MethodGet, "/sync", nil)
	check("initial sync", gjsonOf(body).Get("rooms.join."+strings.ReplaceAll(room.String(), ".", `\.`)+".timeline.events").Array())
	_, body = rawCall(t, bob, http.MethodGet, roomPath+"/messages?dir=b&limit=50", nil)
	check("messages", gjsonOf(body).Get("chunk").Array())
	_, body = rawCall(t, bob, http.MethodGet, roomPath+"/context/"+url.PathEscape(whileInvited.String())+"?limit=20", nil)
	g := gjsonOf(body)
	check("context", append(append([]gjson.Result{g.Get("event")}, g.Get("events_before").Array()...), g.Get("events_after").Array()...))
	for _, ev := range []id.EventID{beforeInvite, afterJoin} {
		status, body := rawCall(t, bob, http.MethodGet, roomPath+"/event/"+url.PathEscape(ev.String()), nil)
		if status != 200 {
			t.Fatalf("event: %d %v", status, body)
		}
		check("event", []gjson.Result{gjsonOf(body)})
	}
	// Incremental: a message after the last sync.
	_, first := rawCall(t, bob, http.MethodGet, "/sync", nil)
	since := first["next_batch"].(string)
	send("später")
	want["später"] = "join"
	_, body = rawCall(t, bob, http.MethodGet, "/sync?timeout=5000&since="+url.QueryEscape(since), nil)
	check("incremental sync", gjsonOf(body).Get("rooms.join."+strings.ReplaceAll(room.String(), ".", `\.`)+".timeline.events").Array())
}
