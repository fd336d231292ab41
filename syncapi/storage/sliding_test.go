package storage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rohrpost/rohrpost/internal/testdb"
	"github.com/rohrpost/rohrpost/syncapi/storage"
)

func TestSlidingConnectionPositions(t *testing.T) {
	ctx := context.Background()
	s, err := storage.Open(ctx, testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	const u, d, c = "@a:x", "DEV", "room-list"
	room := func(id string, sentTo int64) *storage.SlidingRoom {
		return &storage.SlidingRoom{RoomID: id, SentTo: sentTo, RequiredState: [][]string{{"m.room.name", ""}}, TimelineLimit: 1,
			LazyMembers: []string{"@b:x"}}
	}
	save := func(from *storage.SlidingPosition, rooms ...*storage.SlidingRoom) *storage.SlidingPosition {
		t.Helper()
		conn, pos, err := s.SaveSlidingPosition(ctx, storage.SlidingSave{UserID: u, DeviceID: d, ConnID: c, From: from,
			Token: "s1", ListsHash: "h", Rooms: rooms, NowMS: 1000})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.LoadSlidingPosition(ctx, u, d, c, conn, pos)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.LoadSlidingRooms(ctx, p, []string{"!a", "!b", "!c"}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := save(nil, room("!a", 5), room("!b", 6))
	p2 := save(p1, room("!a", 9))
	if p2.Rooms["!a"].SentTo != 9 || p2.Rooms["!b"].SentTo != 6 || p2.Rooms["!a"].LazyMembers[0] != "@b:x" {
		t.Fatalf("p2 rooms %+v %+v", p2.Rooms["!a"], p2.Rooms["!b"])
	}
	// The client did not get p2 and comes back with p1: p1 is answered
	// again, and p2 is gone.
	p3 := save(p1, room("!b", 7))
	if p3.Rooms["!a"].SentTo != 5 || p3.Rooms["!b"].SentTo != 7 {
		t.Fatalf("p3 rooms %+v %+v", p3.Rooms["!a"], p3.Rooms["!b"])
	}
	if _, err := s.LoadSlidingPosition(ctx, u, d, c, p2.ConnNID, p2.Pos); !errors.Is(err, storage.ErrUnknownPos) {
		t.Fatalf("p2 after p1 was sent again: %v", err)
	}
	// Confirming p3 makes p1 unusable.
	save(p3)
	if _, err := s.LoadSlidingPosition(ctx, u, d, c, p1.ConnNID, p1.Pos); !errors.Is(err, storage.ErrUnknownPos) {
		t.Fatalf("p1 after p3 was confirmed: %v", err)
	}
	// Another device or conn_id does not see the connection.
	if _, err := s.LoadSlidingPosition(ctx, u, "OTHER", c, p3.ConnNID, p3.Pos); !errors.Is(err, storage.ErrUnknownPos) {
		t.Fatalf("other device: %v", err)
	}
	// Starting afresh drops the old connection.
	save(nil)
	if _, err := s.LoadSlidingPosition(ctx, u, d, c, p3.ConnNID, p3.Pos); !errors.Is(err, storage.ErrUnknownPos) {
		t.Fatalf("after a fresh start: %v", err)
	}
}
