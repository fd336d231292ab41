package syncapi

import (
	"encoding/json"
	"testing"
)

func TestWithoutRoomID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"content":{},"room_id":"!a:x","sender":"@u:x"}`, `{"content":{},"sender":"@u:x"}`},
		{`{"room_id":"!a:x","type":"m"}`, `{"type":"m"}`},
		{`{"type":"m","room_id":"!a:x"}`, `{"type":"m"}`},
		{`{"room_id":"!a:x"}`, `{}`},
		{`{ "type" : "m" , "room_id" : "!a:x" }`, `{ "type" : "m"  }`},
		// Only the top-level member goes; a room_id in the content stays.
		{`{"content":{"room_id":"!b:x"},"room_id":"!a:x","type":"m"}`, `{"content":{"room_id":"!b:x"},"type":"m"}`},
		{`{"content":{"room_id":"!b:x"},"type":"m"}`, `{"content":{"room_id":"!b:x"},"type":"m"}`},
		{`{"type":"m"}`, `{"type":"m"}`},
	} {
		in := []byte(tc.in)
		got := withoutRoomID(in)
		if string(got) != tc.want || !json.Valid(got) {
			t.Errorf("withoutRoomID(%s) = %s, want %s", tc.in, got, tc.want)
		}
		if string(in) != tc.in {
			t.Errorf("withoutRoomID changed its input to %s", in)
		}
	}
}
