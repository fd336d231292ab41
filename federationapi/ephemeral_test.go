package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/roomserver"
)

// Typing, receipts and presence from other servers: what the parsers
// take, and what the handlers pass on to the sync API after asking the
// room's state.

const (
	remoteOrigin = spec.ServerName("remote.test")
	ourName      = spec.ServerName("ours.test")
	ephRoom      = "!room:ours.test"
	ephEvent     = "$event1"
)

func TestParseTyping(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		want    typingNotice
		wantErr error
	}{
		{"start", `{"room_id":"!r:ours.test","user_id":"@bob:remote.test","typing":true}`,
			typingNotice{RoomID: "!r:ours.test", UserID: "@bob:remote.test", Typing: true}, nil},
		{"stop", `{"room_id":"!r:ours.test","user_id":"@bob:remote.test","typing":false}`,
			typingNotice{RoomID: "!r:ours.test", UserID: "@bob:remote.test"}, nil},
		{"user of another server", `{"room_id":"!r:ours.test","user_id":"@bob:elsewhere.test","typing":true}`, typingNotice{}, errWrongOrigin},
		{"user of ours", `{"room_id":"!r:ours.test","user_id":"@alice:ours.test","typing":true}`, typingNotice{}, errWrongOrigin},
		{"typing missing", `{"room_id":"!r:ours.test","user_id":"@bob:remote.test"}`, typingNotice{}, errMalformedEDU},
		{"typing not a bool", `{"room_id":"!r:ours.test","user_id":"@bob:remote.test","typing":"yes"}`, typingNotice{}, errMalformedEDU},
		{"bad room id", `{"room_id":"#alias:ours.test","user_id":"@bob:remote.test","typing":true}`, typingNotice{}, errMalformedEDU},
		{"bad user id", `{"room_id":"!r:ours.test","user_id":"bob","typing":true}`, typingNotice{}, errMalformedEDU},
		{"long user id", `{"room_id":"!r:ours.test","user_id":"@` + strings.Repeat("b", 300) + `:remote.test","typing":true}`, typingNotice{}, errMalformedEDU},
		{"not an object", `[1,2,3]`, typingNotice{}, errMalformedEDU},
		{"not JSON", `{"room_id":`, typingNotice{}, errMalformedEDU},
		{"null", `null`, typingNotice{}, errMalformedEDU},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTyping(remoteOrigin, []byte(tc.content))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// receiptJSON builds an m.receipt content with one m.read receipt per user.
func receiptJSON(room string, users ...string) string {
	entries := make([]string, len(users))
	for i, u := range users {
		entries[i] = fmt.Sprintf(`%q:{"event_ids":["$e%d"],"data":{"ts":%d}}`, u, i, 1000+i)
	}
	return fmt.Sprintf(`{%q:{"m.read":{%s}}}`, room, strings.Join(entries, ","))
}

func TestParseReceipts(t *testing.T) {
	many := make([]string, maxReceiptsPerEDU+1)
	for i := range many {
		many[i] = fmt.Sprintf("@u%d:remote.test", i)
	}
	for _, tc := range []struct {
		name     string
		content  string
		want     []readReceipt
		wantErr  error // errors.Is the returned error
		problems bool  // an error naming what was left out
	}{
		{name: "one", content: receiptJSON("!r:ours.test", "@bob:remote.test"),
			want: []readReceipt{{RoomID: "!r:ours.test", UserID: "@bob:remote.test", EventID: "$e0", TS: 1000}}},
		{name: "threaded", content: `{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$e"],"data":{"ts":5,"thread_id":"$root"}}}}}`,
			want: []readReceipt{{RoomID: "!r:ours.test", UserID: "@bob:remote.test", EventID: "$e", ThreadID: "$root", TS: 5}}},
		{name: "main thread", content: `{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$e"],"data":{"ts":5,"thread_id":"main"}}}}}`,
			want: []readReceipt{{RoomID: "!r:ours.test", UserID: "@bob:remote.test", EventID: "$e", ThreadID: "main", TS: 5}}},
		{name: "no ts", content: `{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$e"],"data":{}}}}}`,
			want: []readReceipt{{RoomID: "!r:ours.test", UserID: "@bob:remote.test", EventID: "$e"}}},
		{name: "wrong origin left out, the rest kept", content: receiptJSON("!r:ours.test", "@bob:remote.test", "@eve:elsewhere.test"),
			want: []readReceipt{{RoomID: "!r:ours.test", UserID: "@bob:remote.test", EventID: "$e0", TS: 1000}}, wantErr: errWrongOrigin, problems: true},
		{name: "private receipt never taken", content: `{"!r:ours.test":{"m.read.private":{"@bob:remote.test":{"event_ids":["$e"],"data":{"ts":1}}}}}`,
			problems: true},
		{name: "two event ids", content: `{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$a","$b"],"data":{"ts":1}}}}}`,
			wantErr: errMalformedEDU, problems: true},
		{name: "no event ids", content: `{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":[],"data":{"ts":1}}}}}`,
			wantErr: errMalformedEDU, problems: true},
		{name: "bad event id", content: `{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["e"],"data":{"ts":1}}}}}`,
			wantErr: errMalformedEDU, problems: true},
		{name: "bad thread id", content: `{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$e"],"data":{"ts":1,"thread_id":"x"}}}}}`,
			wantErr: errMalformedEDU, problems: true},
		{name: "no data", content: `{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$e"]}}}}`,
			wantErr: errMalformedEDU, problems: true},
		{name: "negative ts", content: `{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$e"],"data":{"ts":-1}}}}}`,
			wantErr: errMalformedEDU, problems: true},
		{name: "bad room id", content: receiptJSON("room", "@bob:remote.test"), wantErr: errMalformedEDU, problems: true},
		{name: "too many", content: receiptJSON("!r:ours.test", many...), wantErr: errTooManyInEDU, problems: true},
		{name: "huge event_ids array", content: `{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":[` +
			strings.TrimSuffix(strings.Repeat(`"$e",`, 10000), ",") + `],"data":{"ts":1}}}}}`, wantErr: errMalformedEDU, problems: true},
		{name: "room not an object", content: `{"!r:ours.test":[]}`, wantErr: errMalformedEDU, problems: true},
		{name: "not an object", content: `"receipts"`, wantErr: errMalformedEDU, problems: true},
		{name: "empty", content: `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseReceipts(remoteOrigin, []byte(tc.content))
			if (err != nil) != tc.problems || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want problems %v (%v)", err, tc.problems, tc.wantErr)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParsePresence(t *testing.T) {
	str := func(s string) *string { return &s }
	many := `{"push":[` + strings.TrimSuffix(strings.Repeat(`{"user_id":"@bob:remote.test","presence":"online","last_active_ago":1},`, maxPresencePerEDU+1), ",") + `]}`
	for _, tc := range []struct {
		name     string
		content  string
		want     []presenceUpdate
		wantErr  error
		problems bool
	}{
		{name: "online", content: `{"push":[{"user_id":"@bob:remote.test","presence":"online","last_active_ago":5000,"currently_active":true,"status_msg":"Lage"}]}`,
			want: []presenceUpdate{{UserID: "@bob:remote.test", Presence: "online", StatusMsg: str("Lage"), LastActiveAgo: 5000, CurrentlyActive: true}}},
		{name: "no last_active_ago", content: `{"push":[{"user_id":"@bob:remote.test","presence":"offline"}]}`,
			want: []presenceUpdate{{UserID: "@bob:remote.test", Presence: "offline"}}},
		{name: "wrong origin left out", content: `{"push":[{"user_id":"@eve:elsewhere.test","presence":"online","last_active_ago":1},{"user_id":"@bob:remote.test","presence":"unavailable","last_active_ago":1}]}`,
			want: []presenceUpdate{{UserID: "@bob:remote.test", Presence: "unavailable", LastActiveAgo: 1}}, wantErr: errWrongOrigin, problems: true},
		{name: "unknown state", content: `{"push":[{"user_id":"@bob:remote.test","presence":"busy","last_active_ago":1}]}`,
			wantErr: errMalformedEDU, problems: true},
		{name: "negative ago", content: `{"push":[{"user_id":"@bob:remote.test","presence":"online","last_active_ago":-5}]}`,
			wantErr: errMalformedEDU, problems: true},
		{name: "status too long", content: `{"push":[{"user_id":"@bob:remote.test","presence":"online","status_msg":"` + strings.Repeat("x", maxStatusMsg+1) + `"}]}`,
			wantErr: errMalformedEDU, problems: true},
		{name: "entry not an object", content: `{"push":[42]}`, wantErr: errMalformedEDU, problems: true},
		{name: "push missing", content: `{}`, wantErr: errMalformedEDU, problems: true},
		{name: "push not a list", content: `{"push":{}}`, wantErr: errMalformedEDU, problems: true},
		{name: "too many", content: many, wantErr: errTooManyInEDU, problems: true},
		{name: "empty", content: `{"push":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePresence(remoteOrigin, []byte(tc.content))
			if (err != nil) != tc.problems || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want problems %v (%v)", err, tc.problems, tc.wantErr)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tc.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("got %s, want %s", gotJSON, wantJSON)
			}
		})
	}
}

// ephemeralRooms answers what the EDU handlers ask of the roomserver.
type ephemeralRooms struct {
	roomserver.API // the rest is never called
	// members maps a room to its users' memberships.
	members map[string]map[string]string
	acl     map[string]string
}

func (f *ephemeralRooms) ServersInRoom(_ context.Context, roomID string) ([]spec.ServerName, error) {
	users, ok := f.members[roomID]
	if !ok {
		return nil, roomserver.ErrRoomNotFound
	}
	var out []spec.ServerName
	for u, m := range users {
		if m == spec.Join {
			out = append(out, domainOf(u))
		}
	}
	return out, nil
}

func (f *ephemeralRooms) Membership(_ context.Context, roomID string, user spec.UserID) (string, error) {
	users, ok := f.members[roomID]
	if !ok {
		return "", roomserver.ErrRoomNotFound
	}
	if m, ok := users[user.String()]; ok {
		return m, nil
	}
	return spec.Leave, nil
}

func (f *ephemeralRooms) JoinedRooms(_ context.Context, user spec.UserID) ([]string, error) {
	out := []string{}
	for room, users := range f.members {
		if users[user.String()] == spec.Join {
			out = append(out, room)
		}
	}
	return out, nil
}

func (f *ephemeralRooms) StateEvent(_ context.Context, roomID, evType, _ string) (*roomserver.StateEvent, error) {
	if c, ok := f.acl[roomID]; ok && evType == "m.room.server_acl" {
		return &roomserver.StateEvent{Content: json.RawMessage(c)}, nil
	}
	return nil, roomserver.ErrEventNotFound
}

// newEphemeralServer is a federation API with only what the EDU handlers
// use; delivered collects what would go to the sync API.
func newEphemeralServer(presence bool) (*Server, *[]gomatrixserverlib.EDU) {
	cfg := config.Default()
	cfg.Presence.Enabled = presence
	rooms := &ephemeralRooms{
		members: map[string]map[string]string{
			ephRoom:             {"@alice:ours.test": spec.Join, "@bob:remote.test": spec.Join, "@carol:remote.test": spec.Leave},
			"!denied:ours.test": {"@alice:ours.test": spec.Join, "@bob:remote.test": spec.Join},
			// A room only remote users are in now: nobody here cares.
			"!gone:ours.test": {"@alice:ours.test": spec.Leave, "@bob:remote.test": spec.Join},
		},
		acl: map[string]string{"!denied:ours.test": `{"allow":["*"],"deny":["remote.test"]}`},
	}
	s := &Server{cfg: cfg, rooms: rooms, keys: map[spec.ServerName]serverkey.Key{ourName: {ServerName: ourName}}}
	var delivered []gomatrixserverlib.EDU
	s.ephemeral.deliver = func(_ context.Context, edu gomatrixserverlib.EDU) error {
		delivered = append(delivered, edu)
		return nil
	}
	return s, &delivered
}

func TestInboundEphemeral(t *testing.T) {
	typing := func(room, user string) string {
		return fmt.Sprintf(`{"room_id":%q,"user_id":%q,"typing":true}`, room, user)
	}
	for _, tc := range []struct {
		name     string
		presence bool
		eduType  string
		content  string
		// want is the content passed on ("" for nothing).
		want    string
		wantErr error
	}{
		{"typing of a member", true, spec.MTyping, typing(ephRoom, "@bob:remote.test"),
			`{"room_id":"!room:ours.test","user_id":"@bob:remote.test","typing":true}`, nil},
		{"typing of a user who left", true, spec.MTyping, typing(ephRoom, "@carol:remote.test"), "", errNotJoined},
		{"typing of a stranger", true, spec.MTyping, typing(ephRoom, "@dave:remote.test"), "", errNotJoined},
		{"typing in an unknown room", true, spec.MTyping, typing("!unknown:ours.test", "@bob:remote.test"), "", errUnknownRoom},
		{"typing in a room we left", true, spec.MTyping, typing("!gone:ours.test", "@bob:remote.test"), "", errUnknownRoom},
		{"typing for another server's user", true, spec.MTyping, typing(ephRoom, "@alice:ours.test"), "", errWrongOrigin},
		{"typing in a room whose ACL denies the origin", true, spec.MTyping, typing("!denied:ours.test", "@bob:remote.test"), "", nil},
		{"typing malformed", true, spec.MTyping, `{"room_id":1}`, "", errMalformedEDU},

		{"receipt of a member", true, spec.MReceipt, `{"!room:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$e"],"data":{"ts":7,"thread_id":"$root"}}}}}`,
			`{"!room:ours.test":{"m.read":{"@bob:remote.test":{"data":{"thread_id":"$root","ts":7},"event_ids":["$e"]}}}}`, nil},
		{"receipts of a member and a stranger", true, spec.MReceipt,
			`{"!room:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$e"],"data":{"ts":7}},"@dave:remote.test":{"event_ids":["$e"],"data":{"ts":7}}}}}`,
			`{"!room:ours.test":{"m.read":{"@bob:remote.test":{"data":{"ts":7},"event_ids":["$e"]}}}}`, errNotJoined},
		{"receipt in an unknown room", true, spec.MReceipt, receiptJSON("!unknown:ours.test", "@bob:remote.test"), "", errUnknownRoom},
		{"receipt in a room whose ACL denies the origin", true, spec.MReceipt, receiptJSON("!denied:ours.test", "@bob:remote.test"), "", nil},
		{"private receipt", true, spec.MReceipt, `{"!room:ours.test":{"m.read.private":{"@bob:remote.test":{"event_ids":["$e"],"data":{"ts":7}}}}}`, "", nil},
		{"receipt malformed", true, spec.MReceipt, `{"!room:ours.test":"x"}`, "", errMalformedEDU},

		{"presence of a member", true, spec.MPresence, `{"push":[{"user_id":"@bob:remote.test","presence":"online","last_active_ago":10,"currently_active":true}]}`,
			`{"push":[{"user_id":"@bob:remote.test","presence":"online","last_active_ago":10,"currently_active":true}]}`, nil},
		{"presence of a stranger", true, spec.MPresence, `{"push":[{"user_id":"@dave:remote.test","presence":"online","last_active_ago":10}]}`, "", errNoSharedRoom},
		{"presence of a user who left", true, spec.MPresence, `{"push":[{"user_id":"@carol:remote.test","presence":"online","last_active_ago":10}]}`, "", errNoSharedRoom},
		{"presence switched off", false, spec.MPresence, `{"push":[{"user_id":"@bob:remote.test","presence":"online","last_active_ago":10}]}`, "", nil},
		{"presence malformed", true, spec.MPresence, `{"push":"online"}`, "", errMalformedEDU},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, delivered := newEphemeralServer(tc.presence)
			var err error
			switch tc.eduType {
			case spec.MTyping:
				err = s.onTyping(context.Background(), remoteOrigin, json.RawMessage(tc.content))
			case spec.MReceipt:
				err = s.onReceipt(context.Background(), remoteOrigin, json.RawMessage(tc.content))
			case spec.MPresence:
				err = s.onPresence(context.Background(), remoteOrigin, json.RawMessage(tc.content))
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
			if tc.want == "" {
				if len(*delivered) != 0 {
					t.Fatalf("passed on %s", (*delivered)[0].Content)
				}
				if tc.wantErr == nil && tc.presence && err == nil {
					t.Errorf("dropped without a word")
				}
				return
			}
			if len(*delivered) != 1 {
				t.Fatalf("passed on %d EDUs, want 1 (err %v)", len(*delivered), err)
			}
			got := (*delivered)[0]
			if got.Type != tc.eduType || got.Origin != string(remoteOrigin) || string(got.Content) != tc.want {
				t.Errorf("passed on %s from %s: %s\nwant %s", got.Type, got.Origin, got.Content, tc.want)
			}
		})
	}
}

// A whole transaction of bad EDUs is dropped EDU by EDU, without a panic.
func TestHandleBadEDUs(t *testing.T) {
	s, delivered := newEphemeralServer(true)
	huge := `{"push":[` + strings.TrimSuffix(strings.Repeat(`{"user_id":"@bob:remote.test","presence":"online"},`, 100000), ",") + `]}`
	var edus []gomatrixserverlib.EDU
	for _, c := range []struct{ typ, content string }{
		{spec.MTyping, `null`}, {spec.MTyping, ``}, {spec.MTyping, `{"room_id":null,"user_id":null,"typing":null}`},
		{spec.MReceipt, `null`}, {spec.MReceipt, `{"!a:b":{"m.read":null}}`}, {spec.MReceipt, `{"!a:b":{"m.read":{"@x:remote.test":null}}}`},
		{spec.MPresence, `null`}, {spec.MPresence, `{"push":[null]}`}, {spec.MPresence, huge},
	} {
		edus = append(edus, gomatrixserverlib.EDU{Type: c.typ, Origin: string(remoteOrigin), Content: []byte(c.content)})
	}
	s.handleEDUs(context.Background(), remoteOrigin, edus)
	if len(*delivered) != 0 {
		t.Errorf("passed on %d EDUs", len(*delivered))
	}
}
