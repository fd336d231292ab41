package clientapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// client is a user of a whole test server, spoken to over plain HTTP so
// that tests see exactly what goes on the wire.
type client struct {
	t      *testing.T
	base   string
	token  string
	userID string
}

func register(t *testing.T, srv *apptest.Server, name string) *client {
	t.Helper()
	cli := srv.Register(t, name)
	return &client{t: t, base: srv.URL, token: cli.AccessToken, userID: cli.UserID.String()}
}

func guest(t *testing.T, srv *apptest.Server) *client {
	t.Helper()
	c := &client{t: t, base: srv.URL}
	status, body := c.do("POST", "/register?kind=guest", map[string]any{})
	if status != http.StatusOK {
		t.Fatalf("register guest: %d %v", status, body)
	}
	c.token, c.userID = body["access_token"].(string), body["user_id"].(string)
	return c
}

// do calls a /_matrix/client/v3 endpoint and decodes the JSON reply.
func (c *client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, c.base+"/_matrix/client/v3"+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var out any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	m, _ := out.(map[string]any)
	if m == nil {
		m = map[string]any{"_": out}
	}
	return res.StatusCode, m
}

// must is do for calls that have to succeed.
func (c *client) must(method, path string, body any) map[string]any {
	c.t.Helper()
	status, res := c.do(method, path, body)
	if status != http.StatusOK {
		c.t.Fatalf("%s %s: %d %v", method, path, status, res)
	}
	return res
}

func (c *client) createRoom(body map[string]any) string {
	c.t.Helper()
	return c.must("POST", "/createRoom", body)["room_id"].(string)
}

func esc(s string) string { return url.PathEscape(s) }

func (c *client) memberOf(roomID, user string) map[string]any {
	c.t.Helper()
	return c.must("GET", "/rooms/"+esc(roomID)+"/state/m.room.member/"+esc(user), nil)
}

func TestJoinContent(t *testing.T) {
	srv := apptest.Start(t)
	alice := register(t, srv, "alice")
	bob := register(t, srv, "bob")
	roomID := alice.createRoom(map[string]any{"preset": "public_chat", "room_alias_name": "joinable"})
	alias := "#joinable:" + strings.SplitN(alice.userID, ":", 2)[1]

	tests := []struct {
		name    string
		path    string
		body    map[string]any
		status  int
		errcode string
		want    map[string]any
	}{
		{"extra keys kept", "/join/" + esc(roomID), map[string]any{"foo": "bar"}, 200, "", map[string]any{"foo": "bar", "membership": "join"}},
		{"by alias", "/join/" + esc(alias), map[string]any{"foo": "baz"}, 200, "", map[string]any{"foo": "baz", "membership": "join"}},
		{"membership cannot be changed", "/rooms/" + esc(roomID) + "/join", map[string]any{"membership": "ban"}, 200, "", map[string]any{"membership": "join"}},
		{"reason", "/rooms/" + esc(roomID) + "/join", map[string]any{"reason": "hello"}, 200, "", map[string]any{"reason": "hello", "membership": "join"}},
		{"third_party_signed dropped", "/join/" + esc(roomID), map[string]any{"third_party_signed": map[string]any{}}, 200, "", map[string]any{"membership": "join", "third_party_signed": nil}},
		{"reason not a string", "/join/" + esc(roomID), map[string]any{"reason": 5}, 400, "M_BAD_JSON", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, res := bob.do("POST", tc.path, tc.body)
			if status != tc.status || (tc.errcode != "" && res["errcode"] != tc.errcode) {
				t.Fatalf("got %d %v, want %d %s", status, res, tc.status, tc.errcode)
			}
			if tc.want == nil {
				return
			}
			content := bob.memberOf(roomID, bob.userID)
			for k, v := range tc.want {
				if content[k] != v {
					t.Errorf("content[%s] = %v, want %v (content %v)", k, content[k], v, content)
				}
			}
		})
	}

	// Joining again without changes keeps the member event.
	eventID := func(c *client) any {
		return c.must("GET", "/rooms/"+esc(roomID)+"/state/m.room.member/"+esc(c.userID)+"?format=event", nil)["event_id"]
	}
	for _, c := range []*client{alice, bob} {
		before := eventID(c)
		c.must("POST", "/join/"+esc(roomID), map[string]any{})
		c.must("POST", "/join/"+esc(roomID), map[string]any{})
		if after := eventID(c); after != before {
			t.Errorf("%s: joining a room twice made a new member event: %v then %v", c.userID, before, after)
		}
	}
}

func TestJoinedMembersKeys(t *testing.T) {
	srv := apptest.Start(t)
	alice := register(t, srv, "alice")
	roomID := alice.createRoom(map[string]any{})
	joined := alice.must("GET", "/rooms/"+esc(roomID)+"/joined_members", nil)["joined"].(map[string]any)
	me, ok := joined[alice.userID].(map[string]any)
	if !ok {
		t.Fatalf("joined = %v", joined)
	}
	for _, k := range []string{"display_name", "avatar_url"} {
		if _, ok := me[k]; !ok {
			t.Errorf("member has no %q key: %v", k, me)
		}
	}
	if me["avatar_url"] != nil || me["display_name"] == nil {
		t.Errorf("member = %v, want a display name and a null avatar", me)
	}
}

func TestCanonicalAlias(t *testing.T) {
	srv := apptest.Start(t)
	alice := register(t, srv, "alice")
	server := strings.SplitN(alice.userID, ":", 2)[1]
	roomID := alice.createRoom(map[string]any{"room_alias_name": "main"})
	alice.createRoom(map[string]any{"room_alias_name": "other"})
	alias, otherAlias := "#main:"+server, "#other:"+server
	path := "/rooms/" + esc(roomID) + "/state/m.room.canonical_alias"

	tests := []struct {
		name    string
		content map[string]any
		status  int
		errcode string
	}{
		{"present aliases", map[string]any{"alias": alias, "alt_aliases": []string{alias}}, 200, ""},
		{"unknown alias", map[string]any{"alias": alias, "alt_aliases": []string{"#missing:" + server}}, 400, "M_BAD_ALIAS"},
		{"invalid alias", map[string]any{"alias": alias, "alt_aliases": []string{"%main:" + server}}, 400, "M_INVALID_PARAM"},
		{"alias of another room", map[string]any{"alias": alias, "alt_aliases": []string{otherAlias}}, 400, "M_BAD_ALIAS"},
		{"alt_aliases not strings", map[string]any{"alias": alias, "alt_aliases": []int{1}}, 400, "M_BAD_JSON"},
		{"no alias", map[string]any{}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, res := alice.do("PUT", path, tc.content)
			if status != tc.status || (tc.errcode != "" && res["errcode"] != tc.errcode) {
				t.Errorf("got %d %v, want %d %s", status, res, tc.status, tc.errcode)
			}
		})
	}

	// Deleting an alias takes it out of the canonical alias event; other
	// aliases stay.
	alice.must("PUT", "/directory/room/"+esc("#second:"+server), map[string]any{"room_id": roomID})
	// An alias that exists cannot be put again: 409, as the spec says.
	if status, res := alice.do("PUT", "/directory/room/"+esc("#second:"+server), map[string]any{"room_id": roomID}); status != 409 || res["errcode"] != "M_UNKNOWN" {
		t.Errorf("second PUT of an alias: %d %v", status, res)
	}
	alice.must("PUT", path, map[string]any{"alias": alias, "alt_aliases": []string{alias, "#second:" + server}})
	alice.must("DELETE", "/directory/room/"+esc(alias), nil)
	got := alice.must("GET", path, nil)
	if _, ok := got["alias"]; ok {
		t.Errorf("canonical alias after deletion = %v", got)
	}
	if alt, _ := got["alt_aliases"].([]any); len(alt) != 1 || alt[0] != "#second:"+server {
		t.Errorf("alt_aliases after deletion = %v", got["alt_aliases"])
	}
}

func TestRedactOtherRoom(t *testing.T) {
	srv := apptest.Start(t)
	alice := register(t, srv, "alice")
	room1, room2 := alice.createRoom(map[string]any{}), alice.createRoom(map[string]any{})
	eventID := alice.must("PUT", "/rooms/"+esc(room1)+"/send/m.room.message/t1", map[string]any{"msgtype": "m.text", "body": "hi"})["event_id"].(string)
	tests := []struct {
		name, room, event string
		status            int
		errcode           string
	}{
		{"other room", room2, eventID, 400, "M_INVALID_PARAM"},
		{"unknown event", room1, "$nope", 404, "M_NOT_FOUND"},
		{"own room", room1, eventID, 200, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, res := alice.do("PUT", "/rooms/"+esc(tc.room)+"/redact/"+esc(tc.event)+"/r"+string(rune('a'+i)), map[string]any{})
			if status != tc.status || (tc.errcode != "" && res["errcode"] != tc.errcode) {
				t.Errorf("got %d %v, want %d %s", status, res, tc.status, tc.errcode)
			}
		})
	}
}

func TestDepartedRoomState(t *testing.T) {
	srv := apptest.Start(t)
	alice := register(t, srv, "alice")
	bob := register(t, srv, "bob")
	carol := register(t, srv, "carol")
	roomID := alice.createRoom(map[string]any{"preset": "public_chat", "name": "before"})
	bob.must("POST", "/join/"+esc(roomID), map[string]any{})
	bob.must("POST", "/rooms/"+esc(roomID)+"/leave", map[string]any{})
	alice.must("PUT", "/rooms/"+esc(roomID)+"/state/m.room.name", map[string]any{"name": "after"})
	alice.must("PUT", "/rooms/"+esc(roomID)+"/state/m.room.topic", map[string]any{"topic": "new"})
	base := "/rooms/" + esc(roomID) + "/state"

	tests := []struct {
		name    string
		who     *client
		path    string
		status  int
		errcode string
		check   func(t *testing.T, res map[string]any)
	}{
		{"name as it was", bob, base + "/m.room.name", 200, "", func(t *testing.T, res map[string]any) {
			if res["name"] != "before" {
				t.Errorf("name = %v, want before", res["name"])
			}
		}},
		{"own leave", bob, base + "/m.room.member/" + esc(bob.userID), 200, "", func(t *testing.T, res map[string]any) {
			if res["membership"] != "leave" {
				t.Errorf("membership = %v, want leave", res["membership"])
			}
		}},
		{"state set after leaving", bob, base + "/m.room.topic", 404, "M_NOT_FOUND", nil},
		{"all state", bob, base, 200, "", func(t *testing.T, res map[string]any) {
			evs, _ := res["_"].([]any)
			names := 0
			for _, e := range evs {
				ev := e.(map[string]any)
				if ev["type"] == "m.room.topic" {
					t.Errorf("state has the topic set after bob left")
				}
				if ev["type"] == "m.room.name" {
					names++
					if c := ev["content"].(map[string]any); c["name"] != "before" {
						t.Errorf("name in state = %v", c["name"])
					}
				}
			}
			if names != 1 {
				t.Errorf("%d name events in %d state events", names, len(evs))
			}
		}},
		{"never joined", carol, base + "/m.room.name", 403, "M_FORBIDDEN", nil},
		{"member reads current", alice, base + "/m.room.name", 200, "", func(t *testing.T, res map[string]any) {
			if res["name"] != "after" {
				t.Errorf("name = %v, want after", res["name"])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, res := tc.who.do("GET", tc.path, nil)
			if status != tc.status || (tc.errcode != "" && res["errcode"] != tc.errcode) {
				t.Fatalf("got %d %v, want %d %s", status, res, tc.status, tc.errcode)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}

	// A forgotten room's past state is no longer readable.
	bob.must("POST", "/rooms/"+esc(roomID)+"/forget", map[string]any{})
	if status, _ := bob.do("GET", base+"/m.room.name", nil); status != 403 {
		t.Errorf("forgotten room: status %d, want 403", status)
	}
}

func TestGuestsLeaveWhenGuestAccessEnds(t *testing.T) {
	srv := apptest.Start(t)
	alice := register(t, srv, "alice")
	bob := register(t, srv, "bob")
	g := guest(t, srv)
	roomID := alice.createRoom(map[string]any{"preset": "public_chat"})
	path := "/rooms/" + esc(roomID) + "/state/m.room.guest_access"

	if status, res := g.do("POST", "/join/"+esc(roomID), map[string]any{}); status != 403 || res["errcode"] != "M_GUEST_ACCESS_FORBIDDEN" {
		t.Fatalf("guest join without guest access: %d %v", status, res)
	}
	alice.must("PUT", path, map[string]any{"guest_access": "can_join"})
	g.must("POST", "/join/"+esc(roomID), map[string]any{})
	bob.must("POST", "/join/"+esc(roomID), map[string]any{})
	// Unrelated state changes leave the guest in.
	alice.must("PUT", path, map[string]any{"guest_access": "can_join", "note": "still open"})
	if m := alice.memberOf(roomID, g.userID)["membership"]; m != "join" {
		t.Fatalf("guest membership = %v, want join", m)
	}
	alice.must("PUT", path, map[string]any{"guest_access": "forbidden"})
	for who, want := range map[string]string{g.userID: "leave", bob.userID: "join", alice.userID: "join"} {
		if m := alice.memberOf(roomID, who)["membership"]; m != want {
			t.Errorf("%s: membership = %v, want %s", who, m, want)
		}
	}
}

func TestSendEventSizeAndLegacyPost(t *testing.T) {
	srv := apptest.Start(t)
	alice := register(t, srv, "alice")
	roomID := alice.createRoom(map[string]any{})
	big := strings.Repeat("A", 70000)
	tests := []struct {
		name, method, path string
		content            map[string]any
		status             int
		errcode            string
	}{
		{"put message", "PUT", "/send/m.room.message/t1", map[string]any{"msgtype": "m.text", "body": "hi"}, 200, ""},
		{"post message without txn id", "POST", "/send/m.room.message", map[string]any{"msgtype": "m.text", "body": "hi"}, 200, ""},
		{"put message too large", "PUT", "/send/m.room.message/t2", map[string]any{"msgtype": "m.text", "body": big}, 413, "M_TOO_LARGE"},
		{"post message too large", "POST", "/send/m.room.message", map[string]any{"msgtype": "m.text", "body": big}, 413, "M_TOO_LARGE"},
		{"state too large", "PUT", "/state/oooooooh", map[string]any{"key": big}, 413, "M_TOO_LARGE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, res := alice.do(tc.method, "/rooms/"+esc(roomID)+tc.path, tc.content)
			if status != tc.status || (tc.errcode != "" && res["errcode"] != tc.errcode) {
				t.Fatalf("got %d %v, want %d %s", status, res, tc.status, tc.errcode)
			}
		})
	}
	// Without a transaction id every POST is a new event.
	a := alice.must("POST", "/rooms/"+esc(roomID)+"/send/m.room.message", map[string]any{"body": "x"})["event_id"]
	b := alice.must("POST", "/rooms/"+esc(roomID)+"/send/m.room.message", map[string]any{"body": "x"})["event_id"]
	if a == b {
		t.Errorf("two POSTs without a transaction id gave the same event %v", a)
	}
}
