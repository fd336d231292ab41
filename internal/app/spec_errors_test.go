package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// The spec's errors for hostile requests: every answer is the spec's
// status with a JSON errcode, never a redirect, an HTML page or a 500.

// noRedirects is a client that shows a redirect instead of following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// rawAnswer is what the server answered to a raw request.
type rawAnswer struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (a rawAnswer) errcode() string {
	code, _ := a.json["errcode"].(string)
	return code
}

// specCall sends body exactly as given (nil: no body at all) with token.
func specCall(t *testing.T, base, token, method, path string, body *string) rawAnswer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(*body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	// http.NewRequest parses the path; keep it as sent.
	if i := strings.Index(path, "?"); i >= 0 {
		req.URL.Opaque, req.URL.RawQuery = "//"+req.URL.Host+path[:i], path[i+1:]
	} else {
		req.URL.Opaque = "//" + req.URL.Host + path
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := rawAnswer{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	_ = json.Unmarshal(raw, &a.json)
	return a
}

func str(s string) *string { return &s }

// checkAnswer fails unless a is status with errcode, as a JSON body.
func checkAnswer(t *testing.T, what string, a rawAnswer, status int, errcode string) {
	t.Helper()
	if a.status != status || a.errcode() != errcode {
		t.Errorf("%s: got %d %q (Location %q), want %d %s", what, a.status, a.body, a.header.Get("Location"), status, errcode)
		return
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
}

// Paths with "..", "." or "//" segments are not cleaned and redirected:
// no route has them, so they are unknown endpoints.
func TestSpecErrorsUncleanPaths(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	tok := alice.AccessToken
	for _, path := range []string{
		"/_matrix/client/v3/sync/../account/whoami",
		"/_matrix/client/v3/./account/whoami",
		"/_matrix/client/v3//account/whoami",
		"//_matrix/client/v3/account/whoami",
		"/_matrix/client/v3/account/whoami/.",
		"/_matrix/client/v3/account/whoami/..",
		"/_matrix/federation/v1/../v1/version",
		"/_matrix/federation//v1/version",
		"/_matrix/key/v2/./server",
		"/_matrix/media/v3/../v3/config",
		"/_matrix/client/v1/media//config",
	} {
		t.Run(path, func(t *testing.T) {
			checkAnswer(t, "GET "+path, specCall(t, srv.URL, tok, http.MethodGet, path, nil), http.StatusNotFound, "M_UNRECOGNIZED")
		})
	}
	// The clean paths work.
	for _, path := range []string{"/_matrix/client/v3/account/whoami", "/_matrix/federation/v1/version", "/_matrix/client/v1/media/config"} {
		if a := specCall(t, srv.URL, tok, http.MethodGet, path, nil); a.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, a.status, a.body)
		}
	}
}

// A known path called with a method it does not serve is 405
// M_UNRECOGNIZED, naming the methods it serves; an unknown path is 404.
func TestSpecErrorsWrongMethod(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	tok := alice.AccessToken
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodDelete, "/_matrix/client/v3/login", 405, "GET, POST"},
		{http.MethodPut, "/_matrix/client/r0/login", 405, "GET, POST"},
		{http.MethodGet, "/_matrix/client/v3/createRoom", 405, "POST"},
		{http.MethodPost, "/_matrix/client/v3/sync", 405, "GET"},
		{http.MethodPut, "/_matrix/client/v3/account/whoami", 405, "GET"},
		{http.MethodGet, "/_matrix/client/v3/rooms/!r:localhost/send/m.room.message/t1", 405, "PUT"},
		{http.MethodPost, "/_matrix/client/versions", 405, "GET"},
		{http.MethodPost, "/_matrix/federation/v1/version", 405, "GET"},
		{http.MethodDelete, "/_matrix/federation/v1/send/txn1", 405, "PUT"},
		{http.MethodPost, "/_matrix/key/v2/server", 405, "GET"},
		{http.MethodPost, "/_matrix/media/v3/config", 405, "GET"},
		{http.MethodPost, "/_matrix/client/v1/media/config", 405, "GET"},
		{http.MethodGet, "/_matrix/media/v3/upload", 405, "POST"},
		{http.MethodGet, "/_matrix/client/v3/no/such/endpoint", 404, ""},
		{http.MethodPost, "/_matrix/federation/v1/no/such/endpoint", 404, ""},
		{http.MethodGet, "/_matrix/media/v3/nothing", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			a := specCall(t, srv.URL, tok, tc.method, tc.path, nil)
			checkAnswer(t, tc.method+" "+tc.path, a, tc.status, "M_UNRECOGNIZED")
			if tc.allow != "" && !sameMethods(a.header.Get("Allow"), tc.allow) {
				t.Errorf("Allow: %q, want %q", a.header.Get("Allow"), tc.allow)
			}
		})
	}
	// A CORS preflight is answered for any path, whatever methods it has.
	for _, path := range []string{"/_matrix/client/v3/login", "/_matrix/client/v3/createRoom", "/_matrix/media/v3/upload"} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+path, nil)
		req.Header.Set("Origin", "https://app.element.io")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("OPTIONS %s: %d, Access-Control-Allow-Origin %q", path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

// sameMethods compares two Allow header values as sets, ignoring HEAD.
func sameMethods(got, want string) bool {
	set := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" && v != http.MethodHead {
				m[v] = true
			}
		}
		return m
	}
	g, w := set(got), set(want)
	if len(g) != len(w) {
		return false
	}
	for k := range w {
		if !g[k] {
			return false
		}
	}
	return true
}

// A body that is not a JSON object is M_BAD_JSON; an empty body is
// M_NOT_JSON and never read as {}, except on the endpoints whose body has
// only optional fields that clients call without one.
func TestSpecErrorsRequestBodies(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := alice.SendText(ctx, room.RoomID, "hallo")
	if err != nil {
		t.Fatal(err)
	}
	tok := alice.AccessToken
	me := url.PathEscape(alice.UserID.String())
	r := url.PathEscape(room.RoomID.String())
	ev := url.PathEscape(sent.EventID.String())
	const v3 = "/_matrix/client/v3"
	endpoints := []struct{ method, path string }{
		{http.MethodPut, v3 + "/rooms/" + r + "/send/m.room.message/empty1"},
		{http.MethodPost, v3 + "/rooms/" + r + "/send/m.room.message"},
		{http.MethodPut, v3 + "/rooms/" + r + "/state/m.room.topic"},
		{http.MethodPut, v3 + "/rooms/" + r + "/state/m.room.topic/"},
		{http.MethodPut, v3 + "/rooms/" + r + "/redact/" + ev + "/red1"},
		{http.MethodPost, v3 + "/createRoom"},
		{http.MethodPost, v3 + "/login"},
		{http.MethodPost, v3 + "/register"},
		{http.MethodPut, v3 + "/profile/" + me + "/displayname"},
		{http.MethodPut, v3 + "/user/" + me + "/account_data/de.example.x"},
		{http.MethodPut, v3 + "/user/" + me + "/rooms/" + r + "/account_data/de.example.x"},
		{http.MethodPut, v3 + "/user/" + me + "/rooms/" + r + "/tags/u.work"},
		{http.MethodPost, v3 + "/user/" + me + "/filter"},
		{http.MethodPost, v3 + "/user/" + me + "/openid/request_token"},
		{http.MethodPost, v3 + "/keys/upload"},
		{http.MethodPost, v3 + "/keys/query"},
		{http.MethodPost, v3 + "/keys/claim"},
		{http.MethodPost, v3 + "/keys/device_signing/upload"},
		{http.MethodPost, v3 + "/keys/signatures/upload"},
		{http.MethodPost, v3 + "/room_keys/version"},
		{http.MethodPut, v3 + "/room_keys/keys?version=1"},
		{http.MethodPut, v3 + "/rooms/" + r + "/typing/" + me},
		{http.MethodPost, v3 + "/rooms/" + r + "/receipt/m.read/" + ev},
		{http.MethodPost, v3 + "/rooms/" + r + "/read_markers"},
		{http.MethodPut, v3 + "/presence/" + me + "/status"},
		{http.MethodPost, v3 + "/search"},
		{http.MethodPut, v3 + "/sendToDevice/m.test/td1"},
		{http.MethodPost, v3 + "/user_directory/search"},
		{http.MethodPost, v3 + "/pushers/set"},
		{http.MethodPut, v3 + "/pushrules/global/override/de.example.rule"},
		{http.MethodPut, v3 + "/pushrules/global/override/.m.rule.master/enabled"},
		{http.MethodPost, v3 + "/rooms/" + r + "/invite"},
		{http.MethodPost, v3 + "/rooms/" + r + "/kick"},
		{http.MethodPost, v3 + "/rooms/" + r + "/ban"},
		{http.MethodPost, v3 + "/rooms/" + r + "/unban"},
		{http.MethodPost, v3 + "/rooms/" + r + "/upgrade"},
		{http.MethodPost, v3 + "/rooms/" + r + "/report/" + ev},
		{http.MethodPost, v3 + "/rooms/" + r + "/report"},
		{http.MethodPut, v3 + "/directory/room/" + url.PathEscape("#nobody:localhost")},
		{http.MethodPut, v3 + "/directory/list/room/" + r},
		{http.MethodPost, v3 + "/publicRooms"},
		{http.MethodPost, v3 + "/account/password"},
		{http.MethodPost, v3 + "/account/deactivate"},
		{http.MethodPost, v3 + "/account/3pid/add"},
		{http.MethodPost, v3 + "/account/3pid/delete"},
		{http.MethodPost, v3 + "/register/email/requestToken"},
		{http.MethodPost, v3 + "/delete_devices"},
		{http.MethodPut, v3 + "/devices/" + url.PathEscape(alice.DeviceID.String())},
	}
	for _, ep := range endpoints {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			checkAnswer(t, "no body", specCall(t, srv.URL, tok, ep.method, ep.path, nil), http.StatusBadRequest, "M_NOT_JSON")
			checkAnswer(t, "empty body", specCall(t, srv.URL, tok, ep.method, ep.path, str("")), http.StatusBadRequest, "M_NOT_JSON")
			checkAnswer(t, "whitespace", specCall(t, srv.URL, tok, ep.method, ep.path, str(" \n")), http.StatusBadRequest, "M_NOT_JSON")
			checkAnswer(t, "not JSON", specCall(t, srv.URL, tok, ep.method, ep.path, str("{nope")), http.StatusBadRequest, "M_NOT_JSON")
			for _, body := range []string{`[]`, `["x"]`, `"x"`, `1`, `null`, `true`} {
				checkAnswer(t, body, specCall(t, srv.URL, tok, ep.method, ep.path, str(body)), http.StatusBadRequest, "M_BAD_JSON")
			}
		})
	}

	// Nothing was stored by the sends without a body.
	msgs, err := alice.Messages(ctx, room.RoomID, "", "", mautrix.DirectionBackward, nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range msgs.Chunk {
		if e.Type == event.EventMessage && e.ID != sent.EventID {
			t.Errorf("a send without a body stored %s with content %s", e.ID, e.Content.VeryRaw)
		}
	}

	// Joining, leaving and knocking take an empty body as {}, as
	// clients send them; a body that is not an object is still refused.
	bobTok := bob.AccessToken
	for _, path := range []string{v3 + "/join/" + r, v3 + "/rooms/" + r + "/join", v3 + "/knock/" + r, v3 + "/rooms/" + r + "/leave"} {
		checkAnswer(t, "POST "+path+" []", specCall(t, srv.URL, bobTok, http.MethodPost, path, str(`[]`)), http.StatusBadRequest, "M_BAD_JSON")
	}
	for _, step := range []struct{ path, membership string }{
		{v3 + "/join/" + r, "join"}, {v3 + "/rooms/" + r + "/leave", "leave"}, {v3 + "/rooms/" + r + "/join", "join"},
	} {
		if a := specCall(t, srv.URL, bobTok, http.MethodPost, step.path, nil); a.status != http.StatusOK {
			t.Fatalf("POST %s without a body: %d %s", step.path, a.status, a.body)
		}
		if a := specCall(t, srv.URL, bobTok, http.MethodPost, step.path, str("")); a.status != http.StatusOK {
			t.Fatalf("POST %s with an empty body: %d %s", step.path, a.status, a.body)
		}
	}
}

// The federation API reads bodies the same way: an empty body where one
// is required is M_NOT_JSON, JSON that is not an object M_BAD_JSON.
func TestSpecErrorsFederationBodies(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	c := peerClient(t, hs2)
	room := "!nowhere:" + string(hs1.ServerName)
	endpoints := []struct{ method, path string }{
		{http.MethodPut, "/_matrix/federation/v1/send/bodies"},
		{http.MethodPost, "/_matrix/federation/v1/user/keys/query"},
		{http.MethodPost, "/_matrix/federation/v1/user/keys/claim"},
		{http.MethodPost, "/_matrix/federation/v1/get_missing_events/" + url.PathEscape(room)},
	}
	for _, ep := range endpoints {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			if status, code := signedRequest(t, c, hs2, hs1, ep.method, ep.path, nil); status != 400 || code != "M_NOT_JSON" {
				t.Errorf("no body: %d %s, want 400 M_NOT_JSON", status, code)
			}
			for _, body := range []any{[]any{}, "x", 1, true} {
				if status, code := signedRequest(t, c, hs2, hs1, ep.method, ep.path, body); status != 400 || code != "M_BAD_JSON" {
					t.Errorf("body %v: %d %s, want 400 M_BAD_JSON", body, status, code)
				}
			}
		})
	}
	// The notary API takes no signature.
	const query = "/_matrix/key/v2/query"
	checkAnswer(t, "POST "+query+" without a body", specCall(t, hs1.URL, "", http.MethodPost, query, nil), http.StatusBadRequest, "M_NOT_JSON")
	checkAnswer(t, "POST "+query+" []", specCall(t, hs1.URL, "", http.MethodPost, query, str("[]")), http.StatusBadRequest, "M_BAD_JSON")
}

// An event over the spec's size limits is 413 M_TOO_LARGE, whether the
// request body is too large or only the event it makes.
func TestSpecErrorsEventTooLarge(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	r := url.PathEscape(room.RoomID.String())
	const v3 = "/_matrix/client/v3"
	content := func(n int) *string {
		return str(`{"msgtype":"m.text","body":"` + strings.Repeat("a", n-len(`{"msgtype":"m.text","body":""}`)) + `"}`)
	}
	long := strings.Repeat("x", 256)
	tests := []struct {
		name, method, path string
		body               *string
		status             int
		errcode            string
	}{
		{"content under the limit, event over it", http.MethodPut, v3 + "/rooms/" + r + "/send/m.room.message/t1", content(65400), 413, "M_TOO_LARGE"},
		{"content just under 64 KiB", http.MethodPut, v3 + "/rooms/" + r + "/send/m.room.message/t2", content(65535), 413, "M_TOO_LARGE"},
		{"content over 64 KiB", http.MethodPut, v3 + "/rooms/" + r + "/send/m.room.message/t3", content(65537), 413, "M_TOO_LARGE"},
		{"state event over the limit", http.MethodPut, v3 + "/rooms/" + r + "/state/de.example.big/k", content(65400), 413, "M_TOO_LARGE"},
		{"event type over 255 bytes", http.MethodPut, v3 + "/rooms/" + r + "/send/" + long + "/t4", str(`{}`), 413, "M_TOO_LARGE"},
		{"state key over 255 bytes", http.MethodPut, v3 + "/rooms/" + r + "/state/de.example.k/" + long, str(`{}`), 413, "M_TOO_LARGE"},
		{"a large event that fits", http.MethodPut, v3 + "/rooms/" + r + "/send/m.room.message/t5", content(60000), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := specCall(t, srv.URL, alice.AccessToken, tc.method, tc.path, tc.body)
			if tc.status == 200 {
				if a.status != 200 {
					t.Fatalf("%d %s", a.status, a.body)
				}
				return
			}
			checkAnswer(t, tc.name, a, tc.status, tc.errcode)
		})
	}
}

// The content of the spec's state events is checked against the spec:
// a wrong type or an unknown value is M_BAD_JSON, and the state stays.
func TestSpecErrorsStateContent(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := alice.SendText(ctx, room.RoomID, "hallo")
	if err != nil {
		t.Fatal(err)
	}
	r := url.PathEscape(room.RoomID.String())
	me := alice.UserID.String()
	const v3 = "/_matrix/client/v3"
	tests := []struct {
		evType, stateKey, content string
		ok                        bool
	}{
		{"m.room.join_rules", "", `{"join_rule":123}`, false},
		{"m.room.join_rules", "", `{"join_rule":"bogus"}`, false},
		{"m.room.join_rules", "", `{}`, false},
		{"m.room.join_rules", "", `{"join_rule":"restricted","allow":"x"}`, false},
		{"m.room.join_rules", "", `{"join_rule":"restricted","allow":[{"type":"m.room_membership"}]}`, false},
		{"m.room.join_rules", "", `{"join_rule":"restricted","allow":[{"type":"m.room_membership","room_id":5}]}`, false},
		{"m.room.join_rules", "", `{"join_rule":"invite"}`, true},
		{"m.room.history_visibility", "", `{"history_visibility":"everyone"}`, false},
		{"m.room.history_visibility", "", `{"history_visibility":1}`, false},
		{"m.room.history_visibility", "", `{"history_visibility":"joined"}`, true},
		{"m.room.guest_access", "", `{"guest_access":true}`, false},
		{"m.room.guest_access", "", `{"guest_access":"forbidden"}`, true},
		{"m.room.power_levels", "", `{"ban":"fifty"}`, false},
		{"m.room.power_levels", "", `{"ban":1.5}`, false},
		{"m.room.power_levels", "", `{"kick":null}`, false},
		{"m.room.power_levels", "", `{"events":{"m.room.name":"x"}}`, false},
		{"m.room.power_levels", "", `{"events":[]}`, false},
		{"m.room.power_levels", "", `{"users":{"notauser":50}}`, false},
		// Historical user ids (capitals, underscores at the start) are user ids.
		{"m.room.power_levels", "", `{"users":{"` + me + `":100,"@__Alt_Konto-57:elsewhere.example":0}}`, true},
		{"m.room.power_levels", "", `{"users":{"` + me + `":true}}`, false},
		{"m.room.power_levels", "", `{"notifications":{"room":"x"}}`, false},
		{"m.room.name", "", `{"name":5}`, false},
		{"m.room.name", "", `{"name":"Akten"}`, true},
		{"m.room.topic", "", `{"topic":["x"]}`, false},
		{"m.room.topic", "", `{"topic":"x","m.topic":"x"}`, false},
		{"m.room.topic", "", `{"topic":"Thema","m.topic":{"m.text":[{"body":"Thema"}]}}`, true},
		{"m.room.avatar", "", `{"url":5}`, false},
		{"m.room.canonical_alias", "", `{"alias":5}`, false},
		{"m.room.canonical_alias", "", `{"alt_aliases":"x"}`, false},
		{"m.room.member", me, `{"membership":"dance"}`, false},
		{"m.room.member", me, `{"membership":5}`, false},
		{"m.room.member", me, `{}`, false},
		{"m.room.member", me, `{"membership":"join","displayname":5}`, false},
		{"m.room.encryption", "", `{"algorithm":5}`, false},
		{"m.room.encryption", "", `{}`, false},
		{"m.room.encryption", "", `{"algorithm":"m.megolm.v1.aes-sha2","rotation_period_ms":"1"}`, false},
		{"m.room.server_acl", "", `{"allow":"*"}`, false},
		{"m.room.server_acl", "", `{"allow":["*"],"deny":[],"allow_ip_literals":"false"}`, true},
		{"m.room.pinned_events", "", `{"pinned":"x"}`, false},
		{"m.room.tombstone", "", `{"replacement_room":5}`, false},
		{"m.space.child", "!x:localhost", `{"via":"localhost"}`, false},
		{"de.example.own", "", `{"join_rule":123}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.evType+" "+tc.content, func(t *testing.T) {
			path := v3 + "/rooms/" + r + "/state/" + tc.evType + "/" + url.PathEscape(tc.stateKey)
			a := specCall(t, srv.URL, alice.AccessToken, http.MethodPut, path, str(tc.content))
			if tc.ok {
				if a.status != http.StatusOK {
					t.Fatalf("%d %s", a.status, a.body)
				}
				return
			}
			checkAnswer(t, "PUT state", a, http.StatusBadRequest, "M_BAD_JSON")
		})
	}
	var jr struct {
		JoinRule string `json:"join_rule"`
	}
	if err := alice.StateEvent(ctx, room.RoomID, event.StateJoinRules, "", &jr); err != nil || jr.JoinRule != "invite" {
		t.Errorf("join rule %q (%v), want invite", jr.JoinRule, err)
	}

	// Request fields: a redaction's reason is a string.
	ev := url.PathEscape(sent.EventID.String())
	checkAnswer(t, "/redact with a numeric reason", specCall(t, srv.URL, alice.AccessToken, http.MethodPut,
		v3+"/rooms/"+r+"/redact/"+ev+"/red1", str(`{"reason":123}`)), http.StatusBadRequest, "M_BAD_JSON")
	checkAnswer(t, "a redaction through /send with a numeric reason", specCall(t, srv.URL, alice.AccessToken, http.MethodPut,
		v3+"/rooms/"+r+"/send/m.room.redaction/red2", str(`{"redacts":"`+sent.EventID.String()+`","reason":{}}`)), http.StatusBadRequest, "M_BAD_JSON")
	if a := specCall(t, srv.URL, alice.AccessToken, http.MethodPut, v3+"/rooms/"+r+"/redact/"+ev+"/red3", str(`{"reason":"Tippfehler"}`)); a.status != http.StatusOK {
		t.Errorf("/redact with a reason: %d %s", a.status, a.body)
	}

	// createRoom checks the state it is given the same way.
	for _, body := range []string{
		`{"initial_state":[{"type":"m.room.join_rules","state_key":"","content":{"join_rule":123}}]}`,
		`{"initial_state":[{"type":"m.room.history_visibility","state_key":"","content":{"history_visibility":"everyone"}}]}`,
		`{"initial_state":[{"type":"m.room.guest_access","state_key":"","content":"can_join"}]}`,
		`{"power_level_content_override":{"ban":"fifty"}}`,
		`{"power_level_content_override":{"users":{"` + me + `":"x"}}}`,
	} {
		checkAnswer(t, "createRoom "+body, specCall(t, srv.URL, alice.AccessToken, http.MethodPost, v3+"/createRoom", str(body)), http.StatusBadRequest, "M_BAD_JSON")
	}
}

// A query parameter that must name a server and does not is 400
// M_INVALID_PARAM.
func TestSpecErrorsServerNames(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	r := url.PathEscape(room.RoomID.String())
	const v3 = "/_matrix/client/v3"
	bad := []string{"%00", "exa%20mple.org", "exa_mple.org", "example.org:99999", "example.org%2Fx", "%40alice%3Aexample.org", "", "%zz"}
	for _, name := range bad {
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, v3 + "/publicRooms?server=" + name},
			{http.MethodPost, v3 + "/publicRooms?server=" + name},
			{http.MethodPost, v3 + "/join/" + r + "?server_name=" + name},
			{http.MethodPost, v3 + "/join/" + r + "?via=localhost&via=" + name},
			{http.MethodPost, v3 + "/knock/" + r + "?server_name=" + name},
			{http.MethodPost, v3 + "/knock/" + r + "?via=" + name},
			{http.MethodGet, "/_matrix/client/v1/rooms/" + r + "/hierarchy?via=" + name},
			{http.MethodGet, "/_matrix/client/v1/room_summary/" + r + "?via=" + name},
		} {
			if name == "" && strings.Contains(c.path, "publicRooms") {
				continue // no server: this server's directory
			}
			checkAnswer(t, c.method+" "+c.path, specCall(t, srv.URL, bob.AccessToken, c.method, c.path, str("{}")), http.StatusBadRequest, "M_INVALID_PARAM")
		}
	}
	// Good names pass.
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, v3 + "/publicRooms?server=localhost"},
		{http.MethodPost, v3 + "/publicRooms?server=localhost"},
		{http.MethodPost, v3 + "/join/" + r + "?server_name=localhost&via=localhost"},
	} {
		if a := specCall(t, srv.URL, bob.AccessToken, c.method, c.path, str("{}")); a.status != http.StatusOK {
			t.Errorf("%s %s: %d %s", c.method, c.path, a.status, a.body)
		}
	}
}
