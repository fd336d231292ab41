package roomserver

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func TestSelfDestructingEvents(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := user(t, "@alice:test.local")
	res, err := apiOf(t, s).CreateRoom(ctx, CreateRoomRequest{Creator: alice})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	soon, later := now+300, now+int64(time.Hour/time.Millisecond)
	tests := []struct {
		name     string
		evType   string
		stateKey *string
		content  string
		pruned   bool
	}{
		{"due soon", "m.room.message", nil, fmt.Sprintf(`{"body":"a","org.matrix.self_destruct_after":%d}`, soon), true},
		{"already past", "m.room.message", nil, fmt.Sprintf(`{"body":"b","org.matrix.self_destruct_after":%d}`, now-1000), true},
		{"not yet due", "m.room.message", nil, fmt.Sprintf(`{"body":"c","org.matrix.self_destruct_after":%d}`, later), false},
		{"not a number", "m.room.message", nil, `{"body":"d","org.matrix.self_destruct_after":"soon"}`, false},
		{"no field", "m.room.message", nil, `{"body":"e"}`, false},
		{"state event", "m.room.topic", new(string), fmt.Sprintf(`{"topic":"f","org.matrix.self_destruct_after":%d}`, soon), false},
	}
	ids := make([]string, len(tests))
	for i, tc := range tests {
		sent, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: res.RoomID, Sender: alice, Type: tc.evType, StateKey: tc.stateKey, Content: json.RawMessage(tc.content)})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ids[i] = sent.EventID
	}
	// Everything due is pruned within a moment of its time.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev, err := apiOf(t, s).Event(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if !gjson.GetBytes(ev.Client, "content.body").Exists() || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := apiOf(t, s).Event(ctx, ids[i])
			if err != nil {
				t.Fatal(err)
			}
			content := gjson.GetBytes(ev.Client, "content")
			if pruned := len(content.Map()) == 0; pruned != tc.pruned {
				t.Errorf("content %s: pruned = %v, want %v", content.Raw, pruned, tc.pruned)
			}
			if gjson.GetBytes(ev.Client, "unsigned.redacted_because").Exists() {
				t.Errorf("a pruned event names a redaction: %s", ev.Client)
			}
		})
	}
	if ts, ok, err := s.store.NextSelfDestruct(ctx); err != nil || !ok || ts != later {
		t.Errorf("next self-destruction = %d, %v, %v; want %d (only the one not yet due)", ts, ok, err, later)
	}
}
