package sliding

import (
	"slices"
	"testing"
)

func TestRequiredStateWants(t *testing.T) {
	const me = "@me:x"
	lazy := map[string]bool{"@sender:x": true}
	type ev struct {
		typ, key string
		want     bool
	}
	tests := []struct {
		name    string
		entries [][]string
		events  []ev
	}{
		{"exact pair", [][]string{{"m.room.name", ""}}, []ev{
			{"m.room.name", "", true}, {"m.room.topic", "", false}, {"m.room.name", "x", false}}},
		{"type wildcard", [][]string{{"m.space.child", "*"}}, []ev{
			{"m.space.child", "!a:x", true}, {"m.space.child", "", true}, {"m.space.parent", "!a:x", false}}},
		{"key wildcard", [][]string{{"*", ""}}, []ev{
			{"m.room.name", "", true}, {"m.room.member", me, false}}},
		{"$ME", [][]string{{"m.room.member", "$ME"}}, []ev{
			{"m.room.member", me, true}, {"m.room.member", "@other:x", false}}},
		{"$ME any type", [][]string{{"*", "$ME"}}, []ev{
			{"m.call.member", me, true}, {"m.call.member", "@other:x", false}}},
		{"$LAZY", [][]string{{"m.room.member", "$LAZY"}}, []ev{
			{"m.room.member", "@sender:x", true}, {"m.room.member", "@quiet:x", false}, {"m.room.member", me, false}}},
		{"all state", [][]string{{"*", "*"}}, []ev{
			{"m.room.name", "", true}, {"m.room.member", "@quiet:x", true}, {"x.custom", "k", true}}},
		{"all state with exclusions", [][]string{{"*", "*"}, {"m.room.topic", ""}, {"m.space.child", "*"}}, []ev{
			{"m.room.name", "", true}, {"m.room.topic", "", false}, {"m.space.child", "!a:x", false}, {"m.room.member", "@quiet:x", true}}},
		{"all state lazy members", [][]string{{"*", "*"}, {"m.room.member", "$LAZY"}, {"m.room.member", "$ME"}}, []ev{
			{"m.room.name", "", true}, {"m.room.member", "@quiet:x", false}, {"m.room.member", "@sender:x", true}, {"m.room.member", me, true}}},
		{"nothing", nil, []ev{{"m.room.name", "", false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := ParseRequiredState(tc.entries)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tc.events {
				if got := rs.Wants(e.typ, e.key, me, lazy); got != e.want {
					t.Errorf("Wants(%s, %q) = %v, want %v", e.typ, e.key, got, e.want)
				}
			}
			// The selection read from storage must contain every wanted
			// event.
			sel := rs.Selection(me, []string{"@sender:x"}, nil)
			for _, e := range tc.events {
				if e.want && !selected(sel, e.typ, e.key) {
					t.Errorf("selection %+v misses %s %q", sel, e.typ, e.key)
				}
			}
		})
	}
}

func selected(sel Selection, typ, key string) bool {
	if typ == memberType {
		return sel.AllMembers || slices.Contains(sel.Members, key)
	}
	return sel.AllTypes || slices.Contains(sel.Types, typ) || slices.Contains(sel.Pairs, [2]string{typ, key})
}

func TestRequiredStateMergeAndCovers(t *testing.T) {
	parse := func(e ...[]string) *RequiredState {
		rs, err := ParseRequiredState(e)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	list := parse([]string{"m.room.name", ""}, []string{"m.room.member", "$LAZY"})
	sub := parse([]string{"m.room.topic", ""})
	all := parse([]string{"*", "*"}, []string{"m.room.topic", ""})
	tests := []struct {
		name     string
		a, b     *RequiredState
		wantKeys [][2]string
		covers   bool // merged covers a
	}{
		{"union", list, sub, [][2]string{{"m.room.name", ""}, {"m.room.topic", ""}}, true},
		{"all absorbs", list, all, [][2]string{{"m.room.name", ""}, {"m.room.member", "@quiet:x"}, {"x", "y"}}, true},
		{"all keeps what the other includes", sub, all, [][2]string{{"m.room.topic", ""}, {"x", "y"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Merge(tc.a, tc.b)
			for _, k := range tc.wantKeys {
				if !m.Wants(k[0], k[1], "@me:x", nil) {
					t.Errorf("merged does not want %v", k)
				}
			}
			if m.Covers(tc.a) != tc.covers || !m.Covers(tc.b) {
				t.Errorf("covers")
			}
		})
	}
	if list.Covers(sub) {
		t.Error("name+lazy covers topic")
	}
	if !list.Covers(parse()) {
		t.Error("anything covers nothing")
	}
}
