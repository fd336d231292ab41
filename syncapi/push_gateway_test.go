package syncapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/roomserver"
	uastorage "github.com/rohrpost/rohrpost/userapi/storage"
)

func TestGatewayAddressCheck(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"rejected":["gone"]}`))
	}))
	defer gw.Close()
	for _, tc := range []struct {
		name      string
		blacklist *[]string
		allowed   bool
	}{
		{"default: a gateway on this host", nil, true},
		{"this host listed", &[]string{"127.0.0.0/8", "::1/128"}, false},
		{"other ranges listed", &[]string{"10.0.0.0/8"}, true},
	} {
		quit := make(chan struct{})
		ps := newPushSender(nil, tc.blacklist, true, nil, quit)
		rejected, err := ps.post(gw.URL+"/_matrix/push/v1/notify", []byte(`{}`))
		close(quit)
		if tc.allowed && (err != nil || len(rejected) != 1 || rejected[0] != "gone") {
			t.Errorf("%s: %v %v, want the gateway's answer", tc.name, rejected, err)
		}
		if !tc.allowed && (err == nil || !strings.Contains(err.Error(), "not allowed")) {
			t.Errorf("%s: %v, want the address refused", tc.name, err)
		}
	}
}

func TestNotifyBody(t *testing.T) {
	ev := &roomserver.OutputEvent{EventID: "$e", RoomID: "!r:x", Type: "m.room.message", Sender: "@a:x"}
	pdu := []byte(`{"content":{"body":"geheim","msgtype":"m.text"}}`)
	full := uastorage.Pusher{AppID: "app", PushKey: "k", CreatedTS: 5000, Data: `{"url":"https://gw/_matrix/push/v1/notify","x":1}`}
	idOnly := full
	idOnly.Data = `{"url":"https://gw/_matrix/push/v1/notify","format":"event_id_only"}`
	for _, tc := range []struct {
		name      string
		n         notification
		p         uastorage.Pusher
		noContent bool              // push.include_content: false
		want      map[string]string // path → value ("" = absent)
	}{
		{"full", notification{event: ev, pdu: pdu, highlight: true, unread: 3, naming: &roomNaming{roomName: "Referat"}}, full, false, map[string]string{
			"event_id": "$e", "type": "m.room.message", "content.body": "geheim", "counts.unread": "3", "room_name": "Referat",
			"devices.0.data.x": "1", "devices.0.data.url": "", "devices.0.tweaks.highlight": "true", "devices.0.tweaks.sound": "default",
			"devices.0.pushkey_ts": "5", "prio": "high"}},
		{"event_id_only", notification{event: ev, pdu: pdu, naming: &roomNaming{roomName: "Referat"}}, idOnly, false, map[string]string{
			"event_id": "$e", "room_id": "!r:x", "type": "", "content": "", "room_name": "", "sender": "",
			"devices.0.data.format": "event_id_only", "devices.0.tweaks.highlight": "false", "devices.0.tweaks.sound": ""}},
		{"include_content off", notification{event: ev, pdu: pdu, highlight: true, unread: 2, naming: &roomNaming{roomName: "Referat", senderName: "Alice"}}, full, true, map[string]string{
			"event_id": "$e", "room_id": "!r:x", "counts.unread": "2", "id": "", "type": "", "content": "", "sender": "", "room_name": "",
			"sender_display_name": "", "devices.0.data.x": "1", "devices.0.tweaks.highlight": "true"}},
		{"badge only", notification{unread: 0}, full, false, map[string]string{
			"counts.unread": "0", "event_id": "", "devices.0.pushkey": "k", "devices.0.tweaks": ""}},
	} {
		body := gjson.ParseBytes(notifyBody(tc.n, tc.p, !tc.noContent)).Get("notification")
		for path, want := range tc.want {
			got := body.Get(path)
			if (want == "" && got.Exists()) || (want != "" && got.String() != want) {
				t.Errorf("%s: %s = %q, want %q (%s)", tc.name, path, got.String(), want, body.Raw)
			}
		}
	}
}
