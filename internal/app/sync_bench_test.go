package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/rohrpost/rohrpost/internal/apptest"
)

// BenchmarkInitialSync measures an initial /sync without a filter, what a
// client does on its first start, for a user in 100 rooms with three other
// members and ten messages each.
func BenchmarkInitialSync(b *testing.B) {
	srv := apptest.Start(b)
	ctx := context.Background()
	alice := srv.Register(b, "alice")
	others := []*mautrix.Client{srv.Register(b, "bob"), srv.Register(b, "carol"), srv.Register(b, "dave")}
	for r := 0; r < 100; r++ {
		room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: fmt.Sprintf("room %d", r)})
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range others {
			if _, err := o.JoinRoomByID(ctx, room.RoomID); err != nil {
				b.Fatal(err)
			}
		}
		for m := 0; m < 10; m++ {
			if _, err := alice.SendMessageEvent(ctx, room.RoomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("m%d", m)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	var n int64
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/_matrix/client/v3/sync", nil)
		req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("sync: %d", resp.StatusCode)
		}
		b.SetBytes(n)
	}
	// The size of the response, which issue 10 compares with Dendrite's.
	b.ReportMetric(float64(n), "resp-bytes")
}
