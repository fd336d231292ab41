package federationapi

import (
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/roomserver"
)

// The history visibility rules for a server (b.example), one event at a
// time: places are those of roomserver.HistoryForServer (live stream
// events at 2 × their position, history below zero, the state we joined
// with at 0, outliers at 1).
func TestServerVisibilityRules(t *testing.T) {
	const server = spec.ServerName("b.example")
	hv := func(place int64, v string) roomserver.HistoryChange {
		return roomserver.HistoryChange{Place: place, Value: v}
	}
	member := func(place int64, user, m string) roomserver.HistoryChange {
		return roomserver.HistoryChange{Place: place, User: user, Value: m}
	}
	msg := func(place int64) roomserver.HistoryEvent {
		return roomserver.HistoryEvent{ID: "$e", Place: place, Type: "m.room.message"}
	}
	state := func(place int64, evType, key, value string) roomserver.HistoryEvent {
		return roomserver.HistoryEvent{ID: "$e", Place: place, Type: evType, StateKey: &key, Value: value}
	}
	const bob, carl, alice = "@bob:b.example", "@carl:b.example", "@alice:a.example"
	tests := []struct {
		name      string
		changes   []roomserver.HistoryChange
		fromStart bool
		event     roomserver.HistoryEvent
		want      bool
	}{
		{"world_readable: anyone", []roomserver.HistoryChange{hv(2, "world_readable")}, true, msg(4), true},
		{"no visibility set means shared; a user joined later", []roomserver.HistoryChange{member(6, bob, "join")}, true, msg(4), true},
		{"shared: a user joined later", []roomserver.HistoryChange{hv(2, "shared"), member(6, bob, "join")}, true, msg(4), true},
		{"shared: a user joined earlier and is still there", []roomserver.HistoryChange{hv(2, "shared"), member(4, bob, "join")}, true, msg(6), true},
		{"shared: only invited, never joined", []roomserver.HistoryChange{hv(2, "shared"), member(6, bob, "invite")}, true, msg(4), false},
		{"shared: another server's user joined", []roomserver.HistoryChange{hv(2, "shared"), member(6, alice, "join")}, true, msg(4), false},
		{"joined: a user was joined at the event", []roomserver.HistoryChange{hv(2, "joined"), member(4, bob, "join")}, true, msg(6), true},
		{"joined: the user joined after the event", []roomserver.HistoryChange{hv(2, "joined"), member(6, bob, "join")}, true, msg(4), false},
		{"joined: the user had left", []roomserver.HistoryChange{hv(2, "joined"), member(4, bob, "join"), member(6, bob, "leave")}, true, msg(8), false},
		{"joined: one user left, another stayed", []roomserver.HistoryChange{hv(2, "joined"), member(4, bob, "join"), member(5, carl, "join"), member(6, bob, "leave")}, true, msg(8), true},
		{"joined: an invite is not enough", []roomserver.HistoryChange{hv(2, "joined"), member(4, bob, "invite")}, true, msg(6), false},
		{"invited: invited at the event", []roomserver.HistoryChange{hv(2, "invited"), member(4, bob, "invite")}, true, msg(6), true},
		{"invited: invited after the event", []roomserver.HistoryChange{hv(2, "invited"), member(6, bob, "invite")}, true, msg(4), false},
		{"invited: joined after the event is not enough", []roomserver.HistoryChange{hv(2, "invited"), member(6, bob, "join")}, true, msg(4), false},
		{"a visibility nobody knows is shared", []roomserver.HistoryChange{hv(2, "sometimes"), member(6, bob, "join")}, true, msg(4), true},
		{"the change itself counts from the next event", []roomserver.HistoryChange{hv(2, "shared"), hv(4, "joined"), member(6, bob, "join")}, true,
			state(4, "m.room.history_visibility", "", "joined"), true},
		{"a change to world_readable is visible to anyone", []roomserver.HistoryChange{hv(2, "joined"), hv(4, "world_readable")}, true,
			state(4, "m.room.history_visibility", "", "world_readable"), true},
		{"a change to joined is hidden from a later server", []roomserver.HistoryChange{hv(2, "joined"), hv(4, "joined"), member(6, bob, "join")}, true,
			state(4, "m.room.history_visibility", "", "joined"), false},
		{"joined: the user's own join", []roomserver.HistoryChange{hv(2, "joined"), member(6, bob, "join")}, true, state(6, "m.room.member", bob, "join"), true},
		{"joined: the user's own leave", []roomserver.HistoryChange{hv(2, "joined"), member(4, bob, "join"), member(6, bob, "leave")}, true,
			state(6, "m.room.member", bob, "leave"), true},
		{"joined: another server's user's join before ours", []roomserver.HistoryChange{hv(2, "joined"), member(4, alice, "join"), member(6, bob, "join")}, true,
			state(4, "m.room.member", alice, "join"), false},
		{"invited: the user's own invite", []roomserver.HistoryChange{hv(2, "invited"), member(6, bob, "invite")}, true, state(6, "m.room.member", bob, "invite"), true},
		{"history we hold in part: unknown visibility is the strictest", []roomserver.HistoryChange{member(6, bob, "join")}, false, msg(-10), false},
		{"history from the room's start: unknown visibility is shared", []roomserver.HistoryChange{member(6, bob, "join")}, true, msg(-10), true},
		{"the state we joined with applies to live events", []roomserver.HistoryChange{hv(0, "joined"), member(10, bob, "join")}, false, msg(6), false},
		{"and a user joined in it sees them", []roomserver.HistoryChange{hv(0, "joined"), member(0, bob, "join")}, false, msg(6), true},
		{"outlier state is judged at the state we joined with", []roomserver.HistoryChange{hv(0, "joined"), member(0, bob, "join")}, false,
			state(1, "m.room.power_levels", "", ""), true},
		{"an outlier that is not state is shown to nobody", []roomserver.HistoryChange{hv(0, "world_readable")}, false, msg(1), false},
		{"a soft-failed or rejected event is shown to nobody", []roomserver.HistoryChange{hv(0, "world_readable")}, false,
			roomserver.HistoryEvent{ID: "$e", Place: 1, Type: "m.room.name", StateKey: new(string), Aside: true}, false},
		{"a live event after our join in a room we joined", []roomserver.HistoryChange{hv(0, "joined"), member(0, alice, "join")}, false, msg(6), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(&roomserver.ServerHistory{Events: []roomserver.HistoryEvent{tc.event}, Changes: tc.changes, FromStart: tc.fromStart}, server)
			if got := v.visible["$e"]; got != tc.want {
				t.Errorf("visible = %t, want %t", got, tc.want)
			}
		})
	}
}

// A server without standing in the room (never a member, nothing
// world-readable) is refused the room as a whole.
func TestServerStanding(t *testing.T) {
	const server = spec.ServerName("b.example")
	tests := []struct {
		name    string
		changes []roomserver.HistoryChange
		want    bool
	}{
		{"nothing", nil, false},
		{"a user of another server", []roomserver.HistoryChange{{Place: 2, User: "@alice:a.example", Value: "join"}}, false},
		{"a joined user", []roomserver.HistoryChange{{Place: 2, User: "@bob:b.example", Value: "join"}}, true},
		{"a user who left", []roomserver.HistoryChange{{Place: 2, User: "@bob:b.example", Value: "join"}, {Place: 4, User: "@bob:b.example", Value: "leave"}}, true},
		{"an invited user", []roomserver.HistoryChange{{Place: 2, User: "@bob:b.example", Value: "invite"}}, true},
		{"only knocking", []roomserver.HistoryChange{{Place: 2, User: "@bob:b.example", Value: "knock"}}, false},
		{"world-readable once", []roomserver.HistoryChange{{Place: 2, Value: "world_readable"}, {Place: 4, Value: "joined"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := judge(&roomserver.ServerHistory{Changes: tc.changes}, server).standing; got != tc.want {
				t.Errorf("standing = %t, want %t", got, tc.want)
			}
		})
	}
}

// Events are judged in one sweep, whatever order they are asked in.
func TestServerVisibilityManyEvents(t *testing.T) {
	const server = spec.ServerName("b.example")
	changes := []roomserver.HistoryChange{
		{Place: 2, Value: "joined"},
		{Place: 6, User: "@bob:b.example", Value: "join"},
		{Place: 10, User: "@bob:b.example", Value: "leave"},
		{Place: 12, Value: "world_readable"},
	}
	var events []roomserver.HistoryEvent
	for _, p := range []int64{14, 4, 8, 12, 11} {
		events = append(events, roomserver.HistoryEvent{ID: string(rune('a' + p)), Place: p, Type: "m.room.message"})
	}
	v := judge(&roomserver.ServerHistory{Events: events, Changes: changes, FromStart: true}, server)
	want := map[int64]bool{4: false, 8: true, 11: false, 12: false, 14: true}
	for p, w := range want {
		if got := v.visible[string(rune('a'+p))]; got != w {
			t.Errorf("event at %d: visible = %t, want %t", p, got, w)
		}
	}
}
