package roomserver

import (
	"context"
	"errors"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"

	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// An event judged on the state its sender gave leaves free positions
// below it; the history that fills them comes newest first, only what the
// hole's edge leads to, and the hole closes where the history meets what
// we held.
func TestHoleIsReservedAndFilled(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	room, _, rob, remote, join := remoteJoinedRoom(t, s)

	// Rob's server says five things we never get, then one we do.
	var missed []gomatrixserverlib.PDU
	prev := []string{join.EventID()}
	for _, body := range []string{"eins", "zwei", "drei", "vier", "fünf"} {
		p := remote.build(room, rob, "m.room.message", nil, `{"body":"`+body+`"}`, prev)
		missed = append(missed, p)
		prev = []string{p.EventID()}
	}
	r, err := s.room(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	var state []string
	for _, ev := range r.state {
		state = append(state, ev.pdu.EventID())
	}
	before := s.counters.StreamPos
	latest := remote.build(room, rob, "m.room.message", nil, `{"body":"sechs"}`, prev)
	res, err := apiOf(t, s).InputEvents(ctx, []InputEvent{{Kind: InputNew, PDU: latest, PrevStates: [][]string{state}}})
	if err != nil || res[0].Rejected || res[0].SoftFailed {
		t.Fatalf("event after the gap: %+v, %v", res, err)
	}
	if want := before + holeSpan + 1; res[0].StreamPos != want {
		t.Fatalf("event after the gap at %d, want %d (room left below it)", res[0].StreamPos, want)
	}
	hole, err := apiOf(t, s).HoleBelow(ctx, room, latest.EventID())
	if err != nil || len(hole.Missing) != 1 || hole.Missing[0] != missed[4].EventID() {
		t.Fatalf("hole below the event: %+v, %v", hole, err)
	}

	// A server answering with an event the hole's edge does not lead to
	// (here one newer than the hole) gets it nowhere.
	stray := remote.build(room, rob, "m.room.message", nil, `{"body":"daneben"}`, []string{latest.EventID()})
	filled, err := apiOf(t, s).FillHole(ctx, room, latest.EventID(), []gomatrixserverlib.PDU{missed[4], stray, missed[3]})
	if err != nil || filled.Stored != 2 || len(filled.Missing) != 1 || filled.Missing[0] != missed[2].EventID() {
		t.Fatalf("first fill: %+v, %v", filled, err)
	}
	if _, err := s.store.EventByID(ctx, stray.EventID()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the stray event was stored: %v", err)
	}
	filled, err = apiOf(t, s).FillHole(ctx, room, latest.EventID(), []gomatrixserverlib.PDU{missed[2], missed[1], missed[0], join})
	if err != nil || filled.Stored != 3 || len(filled.Missing) != 0 {
		t.Fatalf("second fill: %+v, %v", filled, err)
	}
	if _, err := apiOf(t, s).HoleBelow(ctx, room, latest.EventID()); !errors.Is(err, ErrEventNotFound) {
		t.Fatalf("the hole is still open after its history met rob's join: %v", err)
	}

	// The history lies in order between rob's join and the event after
	// the gap.
	order := []string{join.EventID()}
	for _, p := range missed {
		order = append(order, p.EventID())
	}
	order = append(order, latest.EventID())
	last := int64(0)
	for i, id := range order {
		e, err := s.store.EventByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if e.StreamPos <= last {
			t.Fatalf("event %d of the history at %d, not after %d", i, e.StreamPos, last)
		}
		last = e.StreamPos
	}
}
