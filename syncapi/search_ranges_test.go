package syncapi

import (
	"testing"

	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
)

// visibleRanges agrees with visible at every position.
func TestVisibleRanges(t *testing.T) {
	views := []*historyView{
		{visibility: []stateChange{{10, "joined"}}, membership: []stateChange{{20, "join"}, {30, "leave"}, {40, "join"}}, joinedNow: true},
		{visibility: []stateChange{{5, "invited"}, {25, "world_readable"}, {35, "joined"}}, membership: []stateChange{{20, "invite"}, {22, "join"}, {28, "leave"}}, joinedNow: false},
		{visibility: []stateChange{{minPosition, "joined"}}, membership: []stateChange{{15, "join"}}, joinedNow: true},
		{visibility: []stateChange{{3, "shared"}, {8, "joined"}}, membership: []stateChange{}, joinedNow: true},
		{visibility: []stateChange{{3, "joined"}}, membership: []stateChange{}, joinedNow: true},
	}
	for i, v := range views {
		ranges, all := v.visibleRanges()
		if all {
			t.Fatalf("view %d: all visible", i)
		}
		in := func(pos int64) bool {
			for _, r := range ranges {
				if pos > r.After && (r.Upto == 0 || pos <= r.Upto) {
					return true
				}
			}
			return false
		}
		for pos := int64(-5); pos < 60; pos++ {
			want := v.visible(&rsstorage.Event{StreamPos: pos, Type: "m.room.message"}, "@u:x")
			if in(pos) != want {
				t.Errorf("view %d, position %d: in ranges %v is %v, visible is %v", i, pos, ranges, in(pos), want)
			}
		}
	}
	if _, all := (&historyView{open: true}).visibleRanges(); !all {
		t.Error("an open view is not all visible")
	}
}
