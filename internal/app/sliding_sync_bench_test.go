package app_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// BenchmarkSlidingSync1000Rooms measures Element X's room-list connection
// for a user in 1,000 rooms with a message each: the first answer (range
// 0-19, timeline_limit 1, Element X's required_state and extensions) on
// a sync server that has no room index of the user yet (first_page_cold:
// it reads all 1,000 rooms) and on one that has (first_page: another
// device, or the app started again), and the incremental answer after one
// new message in a room outside the first page (which moves it to the
// top).
func BenchmarkSlidingSync1000Rooms(b *testing.B) { benchSliding(b, 1000) }

// BenchmarkSlidingSync100Rooms is the same for 100 rooms: the incremental
// answer should cost what it costs for 1,000.
func BenchmarkSlidingSync100Rooms(b *testing.B) { benchSliding(b, 100) }

func benchSliding(b *testing.B, n int) {
	srv := apptest.Start(b)
	ctx := context.Background()
	alice := srv.Register(b, "alice")
	rooms := make([]id.RoomID, 0, n)
	for i := 0; i < n; i++ {
		r, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: fmt.Sprintf("Raum %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		send(b, alice, r.RoomID, fmt.Sprintf("m%d", i))
		rooms = append(rooms, r.RoomID)
	}
	b.Run("first_page_cold", func(b *testing.B) {
		var lat []time.Duration
		var size int
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			srv.App.Sync.DropRoomIndexes()
			b.StartTimer()
			start := time.Now()
			status, raw := slideRaw(b, srv.URL, alice, "", 0, roomListRequest(19, nil))
			lat = append(lat, time.Since(start))
			if status != 200 {
				b.Fatalf("status %d: %s", status, raw)
			}
			size = len(raw)
		}
		reportSliding(b, lat, size)
	})
	b.Run("room_index_memory", func(b *testing.B) {
		// The heap the user's room index holds: after a garbage
		// collection, with the index and without.
		var with, without runtime.MemStats
		for i := 0; i < b.N; i++ {
			slideRaw(b, srv.URL, alice, "", 0, roomListRequest(19, nil))
			runtime.GC()
			runtime.ReadMemStats(&with)
			srv.App.Sync.DropRoomIndexes()
			runtime.GC()
			runtime.ReadMemStats(&without)
		}
		b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc))/1024, "index-KiB")
	})
	b.Run("first_page", func(b *testing.B) {
		var lat []time.Duration
		var size int
		for i := 0; i < b.N; i++ {
			start := time.Now()
			status, raw := slideRaw(b, srv.URL, alice, "", 0, roomListRequest(19, nil))
			lat = append(lat, time.Since(start))
			if status != 200 {
				b.Fatalf("status %d: %s", status, raw)
			}
			size = len(raw)
		}
		reportSliding(b, lat, size)
	})
	b.Run("incremental_after_one_message", func(b *testing.B) {
		_, first := slide(b, srv.URL, alice, "", 0, roomListRequest(19, nil))
		pos := first.Pos
		var lat []time.Duration
		var size int
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			room := rooms[i%(n/2)] // the oldest rooms: outside the first page until they move up
			send(b, alice, room, "new")
			b.StartTimer()
			start := time.Now()
			status, raw := slideRaw(b, srv.URL, alice, pos, 10000, roomListRequest(19, nil))
			lat = append(lat, time.Since(start))
			b.StopTimer()
			if status != 200 {
				b.Fatalf("status %d: %s", status, raw)
			}
			var resp ssResponse
			if err := jsonUnmarshal(raw, &resp); err != nil || resp.Rooms[room.String()] == nil {
				b.Fatalf("the new message's room is missing: %v", err)
			}
			pos, size = resp.Pos, len(raw)
			b.StartTimer()
		}
		reportSliding(b, lat, size)
	})
}

func reportSliding(b *testing.B, lat []time.Duration, size int) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(size), "resp-bytes")
}
