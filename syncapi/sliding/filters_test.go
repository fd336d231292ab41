package sliding

import "testing"

func TestFilters(t *testing.T) {
	yes, no := true, false
	space := "m.space"
	like := "proj"
	dm := &RoomInfo{ID: "!dm", Membership: "join", IsDM: true, Encrypted: true}
	spaceRoom := &RoomInfo{ID: "!s", Membership: "join", Type: &space, Name: "Our Space"}
	invite := &RoomInfo{ID: "!i", Membership: "invite", Name: "Project X", Tags: map[string]bool{"m.favourite": true}}
	child := &RoomInfo{ID: "!c", Membership: "join", InSpaces: true, Tags: map[string]bool{"m.lowpriority": true}}
	rooms := []*RoomInfo{dm, spaceRoom, invite, child}
	tests := []struct {
		name string
		f    *Filters
		want []string
	}{
		{"none", nil, []string{"!dm", "!s", "!i", "!c"}},
		{"is_dm", &Filters{IsDM: &yes}, []string{"!dm"}},
		{"not dm", &Filters{IsDM: &no}, []string{"!s", "!i", "!c"}},
		{"encrypted", &Filters{IsEncrypted: &yes}, []string{"!dm"}},
		{"invites", &Filters{IsInvite: &yes}, []string{"!i"}},
		{"no invites", &Filters{IsInvite: &no}, []string{"!dm", "!s", "!c"}},
		{"spaces", &Filters{Spaces: []string{"!s"}}, []string{"!c"}},
		{"room_types space", &Filters{RoomTypes: []*string{&space}}, []string{"!s"}},
		{"room_types untyped", &Filters{RoomTypes: []*string{nil}}, []string{"!dm", "!i", "!c"}},
		{"not_room_types wins", &Filters{RoomTypes: []*string{&space, nil}, NotRoomTypes: []*string{&space}}, []string{"!dm", "!i", "!c"}},
		{"name like", &Filters{RoomNameLike: &like}, []string{"!i"}},
		{"tags", &Filters{Tags: []string{"m.favourite"}}, []string{"!i"}},
		{"not_tags", &Filters{NotTags: []string{"m.lowpriority"}}, []string{"!dm", "!s", "!i"}},
		{"and", &Filters{IsInvite: &no, IsDM: &no, NotRoomTypes: []*string{&space}}, []string{"!c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range rooms {
				if tc.f.Keep(r) {
					got = append(got, r.ID)
				}
			}
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
}

func TestWindow(t *testing.T) {
	rooms := []Ranked{{"!b", 5}, {"!a", 9}, {"!c", 5}, {"!d", 1}}
	Sort(rooms)
	res := Window(rooms, [][2]int{{0, 1}, {3, 10}, {7, 9}})
	if res.Count != 4 || len(res.Ops) != 3 {
		t.Fatalf("%+v", res)
	}
	if got := res.Ops[0].RoomIDs; len(got) != 2 || got[0] != "!a" || got[1] != "!b" {
		t.Fatalf("first range %v", got)
	}
	if got := res.Ops[1].RoomIDs; len(got) != 1 || got[0] != "!d" {
		t.Fatalf("second range %v", got)
	}
	if len(res.Ops[2].RoomIDs) != 0 || res.Ops[2].Op != "SYNC" || res.Ops[2].Range != [2]int{7, 9} {
		t.Fatalf("range past the end %+v", res.Ops[2])
	}
}
