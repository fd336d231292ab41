package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

const slidingPath = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

// ssResponse is a sliding sync answer as a client reads it.
type ssResponse struct {
	Pos   string `json:"pos"`
	TxnID string `json:"txn_id"`
	Lists map[string]struct {
		Count int `json:"count"`
		Ops   []struct {
			Op      string   `json:"op"`
			Range   []int    `json:"range"`
			RoomIDs []string `json:"room_ids"`
		} `json:"ops"`
	} `json:"lists"`
	Rooms      map[string]*ssRoom `json:"rooms"`
	Extensions struct {
		ToDevice *struct {
			NextBatch string            `json:"next_batch"`
			Events    []json.RawMessage `json:"events"`
		} `json:"to_device"`
		E2EE *struct {
			DeviceLists *struct {
				Changed []string `json:"changed"`
			} `json:"device_lists"`
			OTKCounts map[string]int `json:"device_one_time_keys_count"`
			Fallback  []string       `json:"device_unused_fallback_key_types"`
		} `json:"e2ee"`
		AccountData *struct {
			Global []event.Event            `json:"global"`
			Rooms  map[string][]event.Event `json:"rooms"`
		} `json:"account_data"`
		Receipts *struct {
			Rooms map[string]event.Event `json:"rooms"`
		} `json:"receipts"`
		Typing *struct {
			Rooms map[string]event.Event `json:"rooms"`
		} `json:"typing"`
	} `json:"extensions"`
	ErrCode string `json:"errcode"`
}

type ssRoom struct {
	Name          string         `json:"name"`
	Heroes        []ssHero       `json:"heroes"`
	Initial       bool           `json:"initial"`
	IsDM          bool           `json:"is_dm"`
	RequiredState []*event.Event `json:"required_state"`
	Timeline      []*event.Event `json:"timeline"`
	PrevBatch     string         `json:"prev_batch"`
	Limited       *bool          `json:"limited"`
	NumLive       *int           `json:"num_live"`
	BumpStamp     *int64         `json:"bump_stamp"`
	JoinedCount   *int           `json:"joined_count"`
	InvitedCount  *int           `json:"invited_count"`
	Notifications *int           `json:"notification_count"`
	Highlights    *int           `json:"highlight_count"`
	InviteState   []*event.Event `json:"invite_state"`
}

type ssHero struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"displayname"`
}

// slide sends one sliding sync request and decodes the answer.
func slide(t testing.TB, base string, cli *mautrix.Client, pos string, timeout int, body any) (int, *ssResponse) {
	t.Helper()
	status, raw := slideRaw(t, base, cli, pos, timeout, body)
	var out ssResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return status, &out
}

func slideRaw(t testing.TB, base string, cli *mautrix.Client, pos string, timeout int, body any) (int, []byte) {
	t.Helper()
	q := url.Values{}
	if pos != "" {
		q.Set("pos", pos)
	}
	if timeout >= 0 {
		q.Set("timeout", fmt.Sprint(timeout))
	}
	var payload []byte
	switch b := body.(type) {
	case string:
		payload = []byte(b)
	default:
		payload, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(http.MethodPost, base+slidingPath+"?"+q.Encode(), bytes.NewReader(payload))
	req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// elementXRequiredState is the required_state of Element X's room list.
var elementXRequiredState = [][]string{
	{"m.room.encryption", ""}, {"m.room.member", "$LAZY"}, {"m.room.member", "$ME"}, {"m.room.name", ""},
	{"m.room.canonical_alias", ""}, {"m.room.power_levels", ""}, {"m.room.join_rules", ""}, {"m.room.topic", ""},
	{"m.room.avatar", ""}, {"m.room.create", ""}, {"m.room.tombstone", ""}, {"m.room.history_visibility", ""},
	{"m.room.pinned_events", ""}, {"org.matrix.msc3401.call.member", "*"}, {"m.call.member", "*"},
	{"m.space.child", "*"}, {"m.space.parent", "*"},
}

// roomListRequest is Element X's room-list connection with the range
// [0, end] and, optionally, room subscriptions.
func roomListRequest(end int, subs map[string]any) map[string]any {
	req := map[string]any{
		"conn_id": "room-list",
		"txn_id":  fmt.Sprintf("txn-%d", end),
		"lists": map[string]any{"all_rooms": map[string]any{
			"ranges": [][]int{{0, end}}, "timeline_limit": 1, "required_state": elementXRequiredState,
			"filters": map[string]any{"not_room_types": []string{"m.space"}},
		}},
		"extensions": map[string]any{
			"account_data": map[string]any{"enabled": true},
			"receipts":     map[string]any{"enabled": true, "rooms": []string{"*"}},
			"typing":       map[string]any{"enabled": true},
		},
	}
	if subs != nil {
		req["room_subscriptions"] = subs
	}
	return req
}

func send(t testing.TB, cli *mautrix.Client, room id.RoomID, body string) id.EventID {
	t.Helper()
	resp, err := cli.SendMessageEvent(context.Background(), room, event.EventMessage, map[string]any{"msgtype": "m.text", "body": body})
	if err != nil {
		t.Fatal(err)
	}
	return resp.EventID
}

func bodies(evs []*event.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Type == event.EventMessage {
			if b, ok := e.Content.Raw["body"].(string); ok {
				out = append(out, b)
			}
		}
	}
	return out
}

func hasState(evs []*event.Event, typ, key string) bool {
	for _, e := range evs {
		if e.Type.Type == typ && e.StateKey != nil && *e.StateKey == key {
			return true
		}
	}
	return false
}

func listRooms(r *ssResponse, list string) []string {
	l, ok := r.Lists[list]
	if !ok || len(l.Ops) == 0 {
		return nil
	}
	return l.Ops[0].RoomIDs
}

func TestSlidingSyncElementXRoomList(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")

	// Three rooms with a message each, the oldest first; a DM with bob;
	// an invite from bob; a space (filtered out by Element X's list).
	var rooms []id.RoomID
	for i := 0; i < 3; i++ {
		r, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: fmt.Sprintf("Referat %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		send(t, alice, r.RoomID, fmt.Sprintf("hello %d", i))
		rooms = append(rooms, r.RoomID)
	}
	dm, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", Invite: []id.UserID{bob.UserID}, IsDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, dm.RoomID); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetAccountData(ctx, "m.direct", map[string][]string{bob.UserID.String(): {dm.RoomID.String()}}); err != nil {
		t.Fatal(err)
	}
	send(t, bob, dm.RoomID, "hi alice")
	invite, err := bob.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Einladung", Invite: []id.UserID{alice.UserID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Name: "Space", CreationContent: map[string]any{"type": "m.space"}}); err != nil {
		t.Fatal(err)
	}

	status, first := slide(t, srv.URL, alice, "", 0, roomListRequest(19, nil))
	if status != 200 || first.Pos == "" || first.TxnID != "txn-19" {
		t.Fatalf("first: %d %+v", status, first)
	}
	order := listRooms(first, "all_rooms")
	want := []string{invite.RoomID.String(), dm.RoomID.String(), rooms[2].String(), rooms[1].String(), rooms[0].String()}
	if first.Lists["all_rooms"].Count != 5 || !slices.Equal(order, want) {
		t.Fatalf("list %+v, want %v", first.Lists["all_rooms"], want)
	}
	r0 := first.Rooms[rooms[0].String()]
	if r0 == nil || !r0.Initial || r0.Name != "Referat 0" || !slices.Equal(bodies(r0.Timeline), []string{"hello 0"}) || len(r0.Timeline) != 1 {
		t.Fatalf("room 0: %+v", r0)
	}
	if !hasState(r0.RequiredState, "m.room.create", "") || !hasState(r0.RequiredState, "m.room.member", alice.UserID.String()) ||
		!hasState(r0.RequiredState, "m.room.name", "") || hasState(r0.RequiredState, "m.room.guest_access", "") {
		t.Fatalf("room 0 required_state: %d events", len(r0.RequiredState))
	}
	if r0.PrevBatch == "" || r0.Limited == nil || !*r0.Limited || *r0.JoinedCount != 1 || r0.BumpStamp == nil {
		t.Fatalf("room 0 fields: %+v", r0)
	}
	d := first.Rooms[dm.RoomID.String()]
	if d == nil || !d.IsDM || len(d.Heroes) != 1 || d.Heroes[0].UserID != bob.UserID.String() || *d.JoinedCount != 2 ||
		!hasState(d.RequiredState, "m.room.member", bob.UserID.String()) || *d.Notifications != 1 {
		t.Fatalf("dm: %+v", d)
	}
	inv := first.Rooms[invite.RoomID.String()]
	if inv == nil || len(inv.InviteState) == 0 || inv.Name != "Einladung" || len(inv.Timeline) != 0 {
		t.Fatalf("invite: %+v", inv)
	}
	if ad := first.Extensions.AccountData; ad == nil || len(ad.Global) == 0 {
		t.Fatalf("account data: %+v", first.Extensions.AccountData)
	}

	// A new message in the oldest room moves it to the top, and only it
	// comes with its new event.
	send(t, alice, rooms[0], "again 0")
	status, second := slide(t, srv.URL, alice, first.Pos, 0, roomListRequest(19, nil))
	if status != 200 || second.Pos == first.Pos {
		t.Fatalf("second: %d %+v", status, second)
	}
	if got := listRooms(second, "all_rooms"); len(got) != 5 || got[0] != rooms[0].String() {
		t.Fatalf("order after a message: %v", got)
	}
	if len(second.Rooms) != 1 {
		t.Fatalf("second has %d rooms", len(second.Rooms))
	}
	r0 = second.Rooms[rooms[0].String()]
	if r0 == nil || r0.Initial || !slices.Equal(bodies(r0.Timeline), []string{"again 0"}) || *r0.NumLive != 1 || len(r0.RequiredState) != 0 {
		t.Fatalf("room 0 delta: %+v", r0)
	}

	// The same pos sent again is answered again, not skipped.
	_, again := slide(t, srv.URL, alice, first.Pos, 0, roomListRequest(19, nil))
	if a := again.Rooms[rooms[0].String()]; a == nil || !slices.Equal(bodies(a.Timeline), []string{"again 0"}) {
		t.Fatalf("same pos again: %+v", again.Rooms)
	}
	// Nothing new: the answer after a short wait keeps the pos.
	_, idle := slide(t, srv.URL, alice, again.Pos, 100, roomListRequest(19, nil))
	if idle.Pos != again.Pos || len(idle.Rooms) != 0 {
		t.Fatalf("idle: %+v", idle)
	}

	// Typing and receipts of bob in the DM.
	if _, err := bob.UserTyping(ctx, dm.RoomID, true, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	last := send(t, bob, dm.RoomID, "read this")
	if err := bob.MarkRead(ctx, dm.RoomID, last); err != nil {
		t.Fatal(err)
	}
	_, third := slide(t, srv.URL, alice, idle.Pos, 1000, roomListRequest(19, nil))
	if tp := third.Extensions.Typing; tp == nil || tp.Rooms[dm.RoomID.String()].Type.Type != "m.typing" {
		t.Fatalf("typing: %+v", third.Extensions.Typing)
	}
	if rc := third.Extensions.Receipts; rc == nil || rc.Rooms[dm.RoomID.String()].Type.Type != "m.receipt" {
		t.Fatalf("receipts: %+v", third.Extensions.Receipts)
	}

	// Opening a room: a subscription with timeline_limit 20 sends it
	// whole, and its prev_batch pages back with /messages.
	for i := 0; i < 25; i++ {
		send(t, alice, rooms[1], fmt.Sprintf("m%d", i))
	}
	subs := map[string]any{rooms[1].String(): map[string]any{"timeline_limit": 20, "required_state": [][]string{{"*", "*"}}}}
	_, open := slide(t, srv.URL, alice, third.Pos, 0, roomListRequest(19, subs))
	r1 := open.Rooms[rooms[1].String()]
	if r1 == nil || !r1.Initial || len(r1.Timeline) != 20 || !*r1.Limited || !hasState(r1.RequiredState, "m.room.power_levels", "") {
		t.Fatalf("subscribed room: %+v", r1)
	}
	msgs, err := alice.Messages(ctx, rooms[1], r1.PrevBatch, "", mautrix.DirectionBackward, nil, 10)
	if err != nil || len(msgs.Chunk) == 0 || bodies(msgs.Chunk)[0] != "m4" {
		t.Fatalf("messages from prev_batch: %v %v", err, msgs)
	}

	// The range grows as Element X scrolls: nothing new for rooms it has.
	_, grown := slide(t, srv.URL, alice, open.Pos, 0, roomListRequest(99, subs))
	if len(listRooms(grown, "all_rooms")) != 5 || len(grown.Rooms) != 0 {
		t.Fatalf("grown: %v rooms %d", listRooms(grown, "all_rooms"), len(grown.Rooms))
	}
}

func TestSlidingSyncLazyMembersAcrossRequests(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	carol := srv.Register(t, "carol")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Lobby"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*mautrix.Client{bob, carol} {
		if _, err := c.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
	}
	send(t, bob, room.RoomID, "from bob")
	_, first := slide(t, srv.URL, alice, "", 0, roomListRequest(19, nil))
	r := first.Rooms[room.RoomID.String()]
	if r == nil || !hasState(r.RequiredState, "m.room.member", bob.UserID.String()) || hasState(r.RequiredState, "m.room.member", carol.UserID.String()) {
		t.Fatalf("first: %+v", r)
	}
	send(t, carol, room.RoomID, "from carol")
	_, second := slide(t, srv.URL, alice, first.Pos, 0, roomListRequest(19, nil))
	r = second.Rooms[room.RoomID.String()]
	if r == nil || !hasState(r.RequiredState, "m.room.member", carol.UserID.String()) {
		t.Fatalf("carol's member event is due: %+v", r)
	}
	send(t, carol, room.RoomID, "carol again")
	_, third := slide(t, srv.URL, alice, second.Pos, 0, roomListRequest(19, nil))
	if r = third.Rooms[room.RoomID.String()]; r == nil || len(r.RequiredState) != 0 {
		t.Fatalf("carol's member event was sent already: %+v", r)
	}
}

func TestSlidingSyncUnknownPosAndBadInput(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	alice := srv.Register(t, "alice")
	_, first := slide(t, srv.URL, alice, "", 0, roomListRequest(19, nil))
	tests := []struct {
		name, pos string
		body      any
		code      string
	}{
		{"garbage pos", "nope", roomListRequest(19, nil), "M_UNKNOWN_POS"},
		{"pos of no connection", "12345_1", roomListRequest(19, nil), "M_UNKNOWN_POS"},
		{"pos of another conn_id", first.Pos, map[string]any{"conn_id": "encryption"}, "M_UNKNOWN_POS"},
		{"not json", "", "{", "M_NOT_JSON"},
		{"range out of order", "", `{"lists":{"a":{"ranges":[[9,0]],"timeline_limit":1}}}`, "M_INVALID_PARAM"},
		{"huge range", "", `{"lists":{"a":{"ranges":[[0,1000000000000]],"timeline_limit":1}}}`, "M_INVALID_PARAM"},
		{"bad required_state", "", `{"lists":{"a":{"ranges":[[0,1]],"required_state":[["x"]]}}}`, "M_BAD_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, resp := slide(t, srv.URL, alice, tc.pos, 0, tc.body)
			if status != 400 || resp.ErrCode != tc.code {
				t.Fatalf("got %d %s, want 400 %s", status, resp.ErrCode, tc.code)
			}
		})
	}
	// Starting again without a pos works and replaces the connection.
	status, fresh := slide(t, srv.URL, alice, "", 0, roomListRequest(19, nil))
	if status != 200 || fresh.Pos == "" {
		t.Fatalf("fresh start: %d", status)
	}
	if status, resp := slide(t, srv.URL, alice, first.Pos, 0, roomListRequest(19, nil)); status != 400 || resp.ErrCode != "M_UNKNOWN_POS" {
		t.Fatalf("old pos after a fresh start: %d %s", status, resp.ErrCode)
	}
}

func TestSlidingSyncEncryptionConnection(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	bob := srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	enc := func(since string) map[string]any {
		td := map[string]any{"enabled": true}
		if since != "" {
			td["since"] = since
		}
		return map[string]any{"conn_id": "encryption", "extensions": map[string]any{"to_device": td, "e2ee": map[string]any{"enabled": true}}}
	}
	_, first := slide(t, srv.URL, alice, "", 0, enc(""))
	if first.Extensions.E2EE == nil || first.Extensions.E2EE.OTKCounts["signed_curve25519"] != 0 || first.Extensions.ToDevice == nil {
		t.Fatalf("first: %+v", first.Extensions)
	}
	if len(first.Lists) != 0 || len(first.Rooms) != 0 {
		t.Fatalf("the encryption connection asks for no rooms: %+v", first)
	}
	_, err = bob.SendToDevice(ctx, event.Type{Type: "de.bund.ping", Class: event.ToDeviceEventType}, &mautrix.ReqSendToDevice{Messages: map[id.UserID]map[id.DeviceID]*event.Content{
		alice.UserID: {alice.DeviceID: {Raw: map[string]any{"n": 1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// Long-polls until the message comes.
	start := time.Now()
	_, second := slide(t, srv.URL, alice, first.Pos, 10000, enc(first.Extensions.ToDevice.NextBatch))
	if td := second.Extensions.ToDevice; td == nil || len(td.Events) != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("to-device: %+v", second.Extensions.ToDevice)
	}
	// Bob's new device key shows in device_lists.
	if _, err := bob.UploadKeys(ctx, &mautrix.ReqUploadKeys{DeviceKeys: &mautrix.DeviceKeys{UserID: bob.UserID, DeviceID: bob.DeviceID,
		Algorithms: []id.Algorithm{id.AlgorithmOlmV1}, Keys: map[id.DeviceKeyID]string{id.NewDeviceKeyID(id.KeyAlgorithmEd25519, bob.DeviceID): "x"}}}); err != nil {
		t.Fatal(err)
	}
	// Acknowledged messages do not come again.
	_, third := slide(t, srv.URL, alice, second.Pos, 3000, enc(second.Extensions.ToDevice.NextBatch))
	if td := third.Extensions.ToDevice; td == nil || len(td.Events) != 0 {
		t.Fatalf("acknowledged to-device came again: %+v", third.Extensions.ToDevice)
	}
	if e := third.Extensions.E2EE; e == nil || e.DeviceLists == nil || !slices.Contains(e.DeviceLists.Changed, bob.UserID.String()) {
		t.Fatalf("device lists: %+v", third.Extensions.E2EE)
	}
}

func TestSlidingSyncLongPollWakesOnMessage(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	_, first := slide(t, srv.URL, alice, "", 10000, roomListRequest(19, nil))
	done := make(chan *ssResponse)
	go func() {
		_, r := slide(t, srv.URL, alice, first.Pos, 10000, roomListRequest(19, nil))
		done <- r
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	send(t, alice, room.RoomID, "wake up")
	select {
	case r := <-done:
		if got := bodies(r.Rooms[room.RoomID.String()].Timeline); !slices.Equal(got, []string{"wake up"}) || time.Since(start) > 3*time.Second {
			t.Fatalf("woke with %v after %v", got, time.Since(start))
		}
	case <-time.After(8 * time.Second):
		t.Fatal("long poll did not wake")
	}
}

// TestSlidingSyncRestartContinuesConnection: the connection's state is in
// the database, so a new server process on the same data continues it.
func TestSlidingSyncRestartContinuesConnection(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	send(t, alice, room.RoomID, "before")
	_, first := slide(t, srv.URL, alice, "", 0, roomListRequest(19, nil))
	srv.Restart(t)
	send(t, alice, room.RoomID, "after")
	status, second := slide(t, srv.URL, alice, first.Pos, 0, roomListRequest(19, nil))
	if status != 200 {
		t.Fatalf("after restart: %d %s", status, second.ErrCode)
	}
	r := second.Rooms[room.RoomID.String()]
	if r == nil || r.Initial || !slices.Equal(bodies(r.Timeline), []string{"after"}) {
		t.Fatalf("after restart: %+v", r)
	}
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }

// TestSlidingSyncRoomAccountData: the account_data extension sends a
// room's account data whole with the room when the room is new to the
// connection, and afterwards only what changed.
func TestSlidingSyncRoomAccountData(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	var rooms []id.RoomID
	for i := 0; i < 3; i++ {
		r, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
		if err != nil {
			t.Fatal(err)
		}
		send(t, alice, r.RoomID, "hello")
		rooms = append(rooms, r.RoomID)
	}
	tag := func(room id.RoomID, name string) {
		t.Helper()
		if err := alice.SetRoomAccountData(ctx, room, "m.tag", map[string]any{"tags": map[string]any{name: map[string]any{}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.SetAccountData(ctx, "de.bund.settings", map[string]any{"theme": "dark"}); err != nil {
		t.Fatal(err)
	}
	tag(rooms[0], "u.alt") // the oldest room: outside a range of one
	tag(rooms[2], "u.neu")
	types := func(r *ssResponse, room id.RoomID) []string {
		var out []string
		if ad := r.Extensions.AccountData; ad != nil {
			for _, e := range ad.Rooms[room.String()] {
				out = append(out, e.Type.Type)
			}
		}
		return out
	}
	_, first := slide(t, srv.URL, alice, "", 0, roomListRequest(0, nil))
	if got := listRooms(first, "all_rooms"); len(got) != 1 || got[0] != rooms[2].String() {
		t.Fatalf("range of one: %v", got)
	}
	if !slices.Equal(types(first, rooms[2]), []string{"m.tag"}) || len(types(first, rooms[0])) != 0 || len(first.Extensions.AccountData.Global) == 0 {
		t.Fatalf("first answer's account data: %+v", first.Extensions.AccountData)
	}
	// A message moves the oldest room to the top: it comes whole, with
	// its tag set before the connection knew it; the global data and
	// the room that went out of range do not come again.
	send(t, alice, rooms[0], "up")
	_, second := slide(t, srv.URL, alice, first.Pos, 0, roomListRequest(0, nil))
	if r := second.Rooms[rooms[0].String()]; r == nil || !r.Initial {
		t.Fatalf("room new to the connection: %+v", r)
	}
	if !slices.Equal(types(second, rooms[0]), []string{"m.tag"}) || len(second.Extensions.AccountData.Global) != 0 {
		t.Fatalf("second answer's account data: %+v", second.Extensions.AccountData)
	}
	// A change of a room the connection has: only that change.
	tag(rooms[0], "u.neu")
	_, third := slide(t, srv.URL, alice, second.Pos, 0, roomListRequest(0, nil))
	ad := third.Extensions.AccountData
	if ad == nil || len(ad.Rooms[rooms[0].String()]) != 1 || ad.Rooms[rooms[0].String()][0].Content.Raw["tags"] == nil || len(ad.Global) != 0 {
		t.Fatalf("third answer's account data: %+v", ad)
	}
}

// What /sync gives clients, sliding sync gives them too: the default push
// rules of a user who changed none in the first answer's account data,
// unsigned.membership on timeline events, and a typing list that emptied
// after the connection's position (also a position made before anyone
// ever typed on the server).
func TestSlidingSyncMatchesSyncConformance(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "Lage"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	send(t, bob, room.RoomID, "guten Morgen")

	status, first := slide(t, srv.URL, alice, "", 0, roomListRequest(19, nil))
	if status != 200 {
		t.Fatalf("first answer: %d %+v", status, first)
	}
	var pushRules bool
	for _, ev := range first.Extensions.AccountData.Global {
		pushRules = pushRules || ev.Type.Type == "m.push_rules"
	}
	if !pushRules {
		t.Errorf("no m.push_rules in the first answer's account data: %+v", first.Extensions.AccountData.Global)
	}
	r := first.Rooms[room.RoomID.String()]
	if r == nil || len(r.Timeline) != 1 || r.Timeline[0].Unsigned.Membership != event.MembershipJoin {
		t.Fatalf("timeline event without unsigned.membership join: %+v", r)
	}

	if _, err := bob.UserTyping(ctx, room.RoomID, true, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.UserTyping(ctx, room.RoomID, false, 0); err != nil {
		t.Fatal(err)
	}
	_, next := slide(t, srv.URL, alice, first.Pos, 0, roomListRequest(19, nil))
	typing, ok := next.Extensions.Typing.Rooms[room.RoomID.String()]
	if !ok {
		t.Fatalf("no typing list after bob started and stopped: %+v", next.Extensions.Typing)
	}
	if users, _ := typing.Content.Raw["user_ids"].([]any); len(users) != 0 {
		t.Fatalf("typing list %v, want empty", users)
	}
}
