package app_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

func TestTimestampToEvent(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []id.EventID
	var stamps []int64
	for _, body := range []string{"Montag", "Dienstag", "Mittwoch"} {
		time.Sleep(5 * time.Millisecond)
		resp, err := alice.SendText(ctx, room.RoomID, body)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := alice.GetEvent(ctx, room.RoomID, resp.EventID)
		if err != nil {
			t.Fatal(err)
		}
		ids, stamps = append(ids, resp.EventID), append(stamps, ev.Timestamp)
	}
	at := func(cli *mautrix.Client, ts int64, dir string) (int, string) {
		status, body := rawCallV1(t, cli, "GET", fmt.Sprintf("/rooms/%s/timestamp_to_event?ts=%d&dir=%s", url.PathEscape(room.RoomID.String()), ts, dir))
		got, _ := body["event_id"].(string)
		return status, got
	}
	tests := []struct {
		name   string
		ts     int64
		dir    string
		status int
		want   string
	}{
		{"exact, forwards", stamps[1], "f", 200, ids[1].String()},
		{"exact, backwards", stamps[1], "b", 200, ids[1].String()},
		{"between, forwards", stamps[1] - 1, "f", 200, ids[1].String()},
		{"between, backwards", stamps[2] - 1, "b", 200, ids[1].String()},
		{"after the last", stamps[2] + 1000, "f", 404, ""},
		{"bad direction", stamps[0], "x", 400, ""},
	}
	for _, tc := range tests {
		if status, got := at(alice, tc.ts, tc.dir); status != tc.status || got != tc.want {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, got, tc.status, tc.want)
		}
	}
	if status, _ := at(bob, stamps[1], "f"); status != 403 {
		t.Errorf("a non-member: %d, want 403", status)
	}
}
