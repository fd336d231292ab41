package sliding

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// elementXRoomList is what Element X sends on its room-list connection.
const elementXRoomList = `{"conn_id":"room-list","txn_id":"abc",
 "lists":{"all_rooms":{"ranges":[[0,19]],"timeline_limit":1,
  "required_state":[["m.room.encryption",""],["m.room.member","$LAZY"],["m.room.member","$ME"],["m.room.name",""],
   ["m.room.canonical_alias",""],["m.room.power_levels",""],["m.room.join_rules",""],["m.room.topic",""],
   ["m.room.avatar",""],["m.room.create",""],["m.room.tombstone",""],["m.room.history_visibility",""],
   ["m.room.pinned_events",""],["org.matrix.msc3401.call.member","*"],["m.call.member","*"],["m.space.child","*"],["m.space.parent","*"]],
  "filters":{"not_room_types":["m.space"]}}},
 "room_subscriptions":{"!a:x":{"required_state":[["*","*"]],"timeline_limit":20}},
 "extensions":{"account_data":{"enabled":true},"receipts":{"enabled":true,"rooms":["*"]},"typing":{"enabled":true},
  "io.element.msc4308.thread_subscriptions":{"enabled":true,"limit":10}}}`

func TestParseRequest(t *testing.T) {
	req, err := ParseRequest([]byte(elementXRoomList))
	if err != nil {
		t.Fatal(err)
	}
	l := req.Lists["all_rooms"]
	if req.ConnID != "room-list" || req.TxnID != "abc" || l == nil || l.TimelineLimit != 1 || len(l.Ranges) != 1 || l.Ranges[0] != [2]int{0, 19} {
		t.Fatalf("parsed %+v, list %+v", req, l)
	}
	if !l.RequiredState.Lazy || !l.RequiredState.Types["m.space.child"] || !l.RequiredState.Pairs[[2]string{"m.room.member", "$ME"}] {
		t.Fatalf("required_state %+v", l.RequiredState)
	}
	if l.Filters == nil || len(l.Filters.NotRoomTypes) != 1 || *l.Filters.NotRoomTypes[0] != "m.space" {
		t.Fatalf("filters %+v", l.Filters)
	}
	sub := req.RoomSubscriptions["!a:x"]
	if sub == nil || sub.TimelineLimit != 20 || !sub.RequiredState.All {
		t.Fatalf("subscription %+v", sub)
	}
	ext := req.Extensions
	if ext.AccountData == nil || ext.Receipts == nil || ext.Typing == nil || ext.ToDevice != nil || ext.E2EE {
		t.Fatalf("extensions %+v", ext)
	}
	if !ext.Receipts.Covers(nil, "!a:x", true) || ext.Receipts.Covers([]string{"all_rooms"}, "!b:x", false) != true {
		t.Fatal("receipts scope")
	}
}

func TestParseRequestRejects(t *testing.T) {
	tests := []struct {
		name, body, code string
	}{
		{"not json", `{nope`, "M_NOT_JSON"},
		{"array", `[]`, "M_BAD_JSON|M_NOT_JSON"},
		{"lists not an object", `{"lists":[]}`, "M_BAD_JSON"},
		{"range of three", `{"lists":{"a":{"ranges":[[0,1,2]]}}}`, "M_BAD_JSON"},
		{"range out of order", `{"lists":{"a":{"ranges":[[5,1]]}}}`, "M_INVALID_PARAM"},
		{"negative range", `{"lists":{"a":{"ranges":[[-1,1]]}}}`, "M_INVALID_PARAM"},
		{"huge range", `{"lists":{"a":{"ranges":[[0,99999999999]]}}}`, "M_INVALID_PARAM"},
		{"range beyond int64", `{"lists":{"a":{"ranges":[[0,1e30]]}}}`, "M_BAD_JSON"},
		{"fractional range", `{"lists":{"a":{"ranges":[[0,1.5]]}}}`, "M_BAD_JSON"},
		{"negative timeline_limit", `{"lists":{"a":{"timeline_limit":-1}}}`, "M_INVALID_PARAM"},
		{"required_state single", `{"lists":{"a":{"required_state":[["m.room.name"]]}}}`, "M_BAD_JSON"},
		{"required_state number", `{"lists":{"a":{"required_state":[["m.room.name",1]]}}}`, "M_BAD_JSON"},
		{"long list name", `{"lists":{"` + strings.Repeat("x", 65) + `":{}}}`, "M_INVALID_PARAM"},
		{"empty list name", `{"lists":{"":{}}}`, "M_INVALID_PARAM"},
		{"null list", `{"lists":{"a":null}}`, "M_BAD_JSON"},
		{"too many lists", manyLists(101), "M_INVALID_PARAM"},
		{"subscription not a room", `{"room_subscriptions":{"#alias:x":{}}}`, "M_INVALID_PARAM"},
		{"long conn_id", `{"conn_id":"` + strings.Repeat("c", 65) + `"}`, "M_INVALID_PARAM"},
		{"bad extension", `{"extensions":{"typing":[]}}`, "M_BAD_JSON"},
		{"bad extension room", `{"extensions":{"typing":{"enabled":true,"rooms":["nope"]}}}`, "M_INVALID_PARAM"},
		{"bad space", `{"lists":{"a":{"filters":{"spaces":["x"]}}}}`, "M_INVALID_PARAM"},
		{"filter wrong type", `{"lists":{"a":{"filters":{"is_dm":"yes"}}}}`, "M_BAD_JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tc.body))
			var me *mxhttp.Error
			if !errors.As(err, &me) || !slices.Contains(strings.Split(tc.code, "|"), me.Code) || me.Status != 400 {
				t.Fatalf("got %v, want 400 %s", err, tc.code)
			}
		})
	}
}

func manyLists(n int) string {
	var b strings.Builder
	b.WriteString(`{"lists":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"l` + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":{}`)
	}
	b.WriteString(`}}`)
	return b.String()
}

func TestParseRequestClampsTimelineLimit(t *testing.T) {
	req, err := ParseRequest([]byte(`{"lists":{"a":{"timeline_limit":100000}}}`))
	if err != nil || req.Lists["a"].TimelineLimit != MaxTimelineLimit {
		t.Fatalf("%v %+v", err, req)
	}
	if req, err := ParseRequest(nil); err != nil || len(req.Lists) != 0 {
		t.Fatalf("empty body: %v", err)
	}
}

// FuzzParseRequest checks that any body is either parsed or refused with
// a 4xx Matrix error, never a panic.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(elementXRoomList))
	f.Add([]byte(`{"conn_id":"encryption","extensions":{"to_device":{"enabled":true,"since":"5"},"e2ee":{"enabled":true}}}`))
	f.Add([]byte(`{"lists":{"a":{"ranges":[[0,0]],"required_state":[["*","*"],["m.room.member","$LAZY"],["m.room.topic",""]]}}}`))
	f.Add([]byte(`{"lists":{"a":{"filters":{"room_types":[null,"m.space"],"tags":["m.favourite"],"room_name_like":"Ab"}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			var me *mxhttp.Error
			if !errors.As(err, &me) || me.Status < 400 || me.Status >= 500 {
				t.Fatalf("error %v is not a 4xx Matrix error", err)
			}
			return
		}
		for _, l := range req.Lists {
			for _, r := range l.Ranges {
				if r[0] < 0 || r[1] < r[0] {
					t.Fatalf("bad range %v accepted", r)
				}
			}
			// The stored form compiles back to the same rules.
			again, err := ParseRequiredState(l.RequiredState.Entries())
			if err != nil || again.Key() != l.RequiredState.Key() {
				t.Fatalf("required_state does not round-trip: %v %q %q", err, again.Key(), l.RequiredState.Key())
			}
		}
	})
}
