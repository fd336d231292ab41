package clientapi

import (
	"encoding/json"
	"testing"
)

// TestRemoteChunkChildrenOnlyOfSpaces: a chunk another server sent for a
// room that is not a space (no room_type m.space) has no children to walk,
// whatever its children_state lists.
func TestRemoteChunkChildrenOnlyOfSpaces(t *testing.T) {
	const children = `"children_state":[{"type":"m.space.child","state_key":"!kind:example.org","content":{"via":["example.org"]},"origin_server_ts":1}]`
	for _, tc := range []struct {
		chunk string
		want  int
	}{
		{`{"room_id":"!a:example.org","room_type":"m.space",` + children + `}`, 1},
		{`{"room_id":"!a:example.org",` + children + `}`, 0},
		{`{"room_id":"!a:example.org","room_type":"org.example.other",` + children + `}`, 0},
	} {
		chunk := json.RawMessage(tc.chunk)
		if got := len(spaceChildren(chunk, false)); got != tc.want {
			t.Errorf("%s: %d children, want %d", tc.chunk, got, tc.want)
		}
		if got := hasChildren(chunk); got != (tc.want > 0) {
			t.Errorf("%s: hasChildren %v", tc.chunk, got)
		}
	}
}
