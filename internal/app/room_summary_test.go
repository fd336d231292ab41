package app_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// GET /room_summary shows a room to those who could join, knock on or
// read it, and to its members and invitees; other rooms are not found.
func TestRoomSummary(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob, carol := srv.Register(t, "alice"), srv.Register(t, "bob"), srv.Register(t, "carol")
	open, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Bürgerservice", RoomAliasName: "buergerservice",
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{carol.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	anonymous, err := mautrix.NewClient(srv.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	summary := func(cli *mautrix.Client, room string) (int, gjson.Result) {
		t.Helper()
		var out map[string]any
		_, err := cli.MakeFullRequest(ctx, mautrix.FullRequest{Method: http.MethodGet,
			URL: srv.URL + "/_matrix/client/v1/room_summary/" + url.PathEscape(room), ResponseJSON: &out})
		if httpErr, ok := err.(mautrix.HTTPError); ok && httpErr.Response != nil {
			code := ""
			if httpErr.RespError != nil {
				code = httpErr.RespError.ErrCode
			}
			return httpErr.Response.StatusCode, gjson.Parse(`{"errcode":"` + code + `"}`)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 200, gjsonOf(out)
	}
	alias := "#buergerservice:" + alice.UserID.Homeserver()
	for _, tc := range []struct {
		name       string
		cli        *mautrix.Client
		room       string
		status     int
		membership string
	}{
		{"a stranger, by id", bob, string(open.RoomID), 200, ""},
		{"a stranger, by alias", bob, alias, 200, ""},
		{"without a token", anonymous, string(open.RoomID), 200, ""},
		{"the creator", alice, string(open.RoomID), 200, "join"},
		{"an invitee of a private room", carol, string(closed.RoomID), 200, "invite"},
		{"a stranger, private room", bob, string(closed.RoomID), 404, ""},
		{"without a token, private room", anonymous, string(closed.RoomID), 404, ""},
		{"an unknown room", bob, "!nirgends:" + alice.UserID.Homeserver(), 404, ""},
		{"an unknown alias", bob, "#nirgends:" + alice.UserID.Homeserver(), 404, ""},
		{"not a room", bob, "irgendwas", 400, ""},
	} {
		status, s := summary(tc.cli, tc.room)
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, s.Raw, tc.status)
			continue
		}
		if status != 200 {
			continue
		}
		if s.Get("membership").String() != tc.membership {
			t.Errorf("%s: membership %q, want %q", tc.name, s.Get("membership").String(), tc.membership)
		}
		if tc.room == string(open.RoomID) || tc.room == alias {
			if s.Get("room_id").String() != string(open.RoomID) || s.Get("name").String() != "Bürgerservice" ||
				s.Get("num_joined_members").Int() != 1 || s.Get("join_rule").String() != "public" || s.Get("canonical_alias").String() != alias ||
				s.Get("encryption").String() != string(id.AlgorithmMegolmV1) || s.Get("room_version").String() == "" ||
				!s.Get("world_readable").Exists() || !s.Get("guest_can_join").Exists() || s.Get("children_state").Exists() {
				t.Errorf("%s: %s", tc.name, s.Raw)
			}
		}
	}
	bad, _ := mautrix.NewClient(srv.URL, alice.UserID, "nonsense")
	if status, s := summary(bad, string(open.RoomID)); status != 401 || s.Get("errcode").String() != "M_UNKNOWN_TOKEN" {
		t.Errorf("a bad token: %d %s", status, s.Raw)
	}
}
