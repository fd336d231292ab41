package app_test

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestRelations(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := alice.SendText(ctx, room.RoomID, "Vorlage")
	if err != nil {
		t.Fatal(err)
	}
	react := func(key string) id.EventID {
		resp, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventReaction, map[string]any{
			"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": parent.EventID, "key": key},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp.EventID
	}
	up, down := react("👍"), react("👎")
	reply, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, map[string]any{
		"msgtype": "m.text", "body": "im Thread",
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": parent.EventID},
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(r *mautrix.RespGetRelations) []id.EventID {
		var out []id.EventID
		for _, ev := range r.Chunk {
			out = append(out, ev.ID)
		}
		return out
	}
	tests := []struct {
		name string
		req  mautrix.ReqGetRelations
		want []id.EventID
	}{
		{"all, newest first", mautrix.ReqGetRelations{}, []id.EventID{reply.EventID, down, up}},
		{"by relation type", mautrix.ReqGetRelations{RelationType: event.RelAnnotation}, []id.EventID{down, up}},
		{"by type and event type", mautrix.ReqGetRelations{RelationType: event.RelThread, EventType: event.EventMessage}, []id.EventID{reply.EventID}},
		{"forwards", mautrix.ReqGetRelations{Dir: mautrix.DirectionForward}, []id.EventID{up, down, reply.EventID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := alice.GetRelations(ctx, room.RoomID, parent.EventID, &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got := ids(resp)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	// Paging with a limit continues where the last page ended.
	first, err := alice.GetRelations(ctx, room.RoomID, parent.EventID, &mautrix.ReqGetRelations{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if first.NextBatch == "" || len(first.Chunk) != 2 {
		t.Fatalf("first page %v next %q", ids(first), first.NextBatch)
	}
	rest, err := alice.GetRelations(ctx, room.RoomID, parent.EventID, &mautrix.ReqGetRelations{Limit: 2, From: first.NextBatch})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rest); len(got) != 1 || got[0] != up {
		t.Fatalf("second page %v", got)
	}
}
