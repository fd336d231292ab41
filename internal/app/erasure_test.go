package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// After an erasure, who saw the messages keeps seeing them; who joins
// later gets them redacted, in /sync, /messages and /event.
func TestErasedUsersMessagesAreRedactedForLaterJoiners(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	creator, member, joiner := srv.Register(t, "creator"), srv.Register(t, "member"), srv.Register(t, "joiner")
	room, err := creator.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	sent, err := creator.SendText(ctx, room.RoomID, "Dienstgeheimnis")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := joiner.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	if body := bodyIn(t, joiner, room.RoomID, sent.EventID); body != "Dienstgeheimnis" {
		t.Fatalf("before the erasure the joiner sees %q", body)
	}

	deactivate(t, srv.URL, creator, true)
	// Sync servers learn of the erasure over the bus: wait until it has
	// arrived.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev, err := joiner.GetEvent(ctx, room.RoomID, sent.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ev.Content.Raw["body"]; !ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	tests := []struct {
		name string
		cli  *mautrix.Client
		want string
	}{
		{"member who saw it", member, "Dienstgeheimnis"},
		{"joiner after the message", joiner, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := bodyIn(t, tc.cli, room.RoomID, sent.EventID); got != tc.want {
				t.Errorf("/sync: body %q, want %q", got, tc.want)
			}
			msgs, err := tc.cli.Messages(ctx, room.RoomID, "", "", mautrix.DirectionBackward, nil, 50)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, ev := range msgs.Chunk {
				if ev.ID == sent.EventID {
					found = true
					if got, _ := ev.Content.Raw["body"].(string); got != tc.want {
						t.Errorf("/messages: body %q, want %q", got, tc.want)
					}
				}
			}
			if !found {
				t.Error("/messages lacks the event")
			}
			ev, err := tc.cli.GetEvent(ctx, room.RoomID, sent.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := ev.Content.Raw["body"].(string); got != tc.want {
				t.Errorf("/event: body %q, want %q", got, tc.want)
			}
		})
	}
}

// bodyIn is the body of an event in an initial sync's timeline.
func bodyIn(t *testing.T, cli *mautrix.Client, roomID id.RoomID, eventID id.EventID) string {
	t.Helper()
	resp, err := cli.SyncRequest(context.Background(), 0, "", `{"room":{"timeline":{"limit":50}}}`, false, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range resp.Rooms.Join[roomID].Timeline.Events {
		if ev.ID == eventID && ev.Type == event.EventMessage {
			body, _ := ev.Content.Raw["body"].(string)
			return body
		}
	}
	t.Fatalf("event %s not in the timeline", eventID)
	return ""
}

func deactivate(t *testing.T, base string, cli *mautrix.Client, erase bool) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"erase": erase,
		"auth": map[string]any{
			"type":       "m.login.password",
			"identifier": map[string]any{"type": "m.id.user", "user": cli.UserID.String()},
			"password":   "correct horse battery staple",
		},
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/_matrix/client/v3/account/deactivate", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("deactivate: %s", resp.Status)
	}
}
