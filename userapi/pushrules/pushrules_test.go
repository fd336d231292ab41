package pushrules

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func ids(rules []Rule) string {
	var out []string
	for _, r := range rules {
		out = append(out, r.RuleID)
	}
	return strings.Join(out, " ")
}

func TestDefaultsNameTheUser(t *testing.T) {
	rs := Defaults(`@anna:bund.example`)
	if got := ids(rs.Override); !strings.HasPrefix(got, ".m.rule.master .m.rule.suppress_notices .m.rule.invite_for_me") {
		t.Fatalf("override defaults: %s", got)
	}
	if got := ids(rs.Underride); got != ".m.rule.call .m.rule.encrypted_room_one_to_one .m.rule.room_one_to_one .m.rule.message .m.rule.encrypted" {
		t.Fatalf("underride defaults: %s", got)
	}
	mention, _ := rs.Get("override", ".m.rule.is_user_mention")
	if !strings.Contains(string((*mention.Conditions)[0]), `"value":"@anna:bund.example"`) {
		t.Fatalf("the user is not in the mention rule: %s", (*mention.Conditions)[0])
	}
	if strings.Contains(defaultsJSON, "@anna") {
		t.Fatal("Defaults changed the shared template")
	}
}

func TestPutPlacesUserRules(t *testing.T) {
	act := []json.RawMessage{json.RawMessage(`"notify"`)}
	rs := Defaults("@a:b")
	steps := []struct {
		id, before, after string
		want              string
	}{
		{"!one:b", "", "", "!one:b"},
		{"!two:b", "", "", "!two:b !one:b"},
		{"!three:b", "!one:b", "", "!two:b !three:b !one:b"},
		{"!four:b", "", "!one:b", "!two:b !three:b !one:b !four:b"},
		{"!two:b", "", "!four:b", "!three:b !one:b !four:b !two:b"},
	}
	for _, st := range steps {
		if err := rs.Put("room", st.id, NewRule{Actions: act}, st.before, st.after); err != nil {
			t.Fatal(err)
		}
		if got := ids(rs.Room); got != st.want {
			t.Fatalf("after putting %s: %s, want %s", st.id, got, st.want)
		}
	}
	if err := rs.Put("room", "!five:b", NewRule{Actions: act}, "!nope:b", ""); !errors.Is(err, ErrNoAnchor) {
		t.Fatalf("before an unknown rule: %v", err)
	}
	cond := []json.RawMessage{json.RawMessage(`{"kind":"event_match","key":"room_id","pattern":"!x:b"}`)}
	if err := rs.Put("override", "mute", NewRule{Actions: []json.RawMessage{}, Conditions: cond}, "", ""); err != nil {
		t.Fatal(err)
	}
	if got := ids(rs.Override); !strings.HasPrefix(got, ".m.rule.master mute .m.rule.suppress_notices") {
		t.Fatalf("a new override rule goes after the master rule and before the other defaults: %s", got)
	}
}

func TestInvalidRules(t *testing.T) {
	act := []json.RawMessage{json.RawMessage(`"notify"`)}
	tests := []struct {
		name, kind, id string
		body           NewRule
	}{
		{"dot", "room", ".m.rule.mine", NewRule{Actions: act}},
		{"slash", "room", "a/b", NewRule{Actions: act}},
		{"backslash", "room", `a\b`, NewRule{Actions: act}},
		{"empty id", "room", "", NewRule{Actions: act}},
		{"no actions", "room", "!r:b", NewRule{}},
		{"unknown action", "room", "!r:b", NewRule{Actions: []json.RawMessage{json.RawMessage(`"shout"`)}}},
		{"tweak without name", "room", "!r:b", NewRule{Actions: []json.RawMessage{json.RawMessage(`{"value":1}`)}}},
		{"override without conditions", "override", "x", NewRule{Actions: act}},
		{"condition without kind", "underride", "x", NewRule{Actions: act, Conditions: []json.RawMessage{json.RawMessage(`{}`)}}},
		{"content without pattern", "content", "x", NewRule{Actions: act}},
		{"unknown kind", "postcard", "x", NewRule{Actions: act}},
	}
	for _, tc := range tests {
		rs := Defaults("@a:b")
		if err := rs.Put(tc.kind, tc.id, tc.body, "", ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
	rs := Defaults("@a:b")
	if err := rs.Delete("override", ".m.rule.master"); !errors.Is(err, ErrInvalid) {
		t.Errorf("deleting a default rule: %v", err)
	}
	if err := rs.Delete("room", "!nope:b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a missing rule: %v", err)
	}
}

// What the user changed survives a change of the server's defaults.
func TestLoadKeepsChangesAcrossNewDefaults(t *testing.T) {
	rs := Defaults("@a:b")
	if err := rs.SetEnabled("override", ".m.rule.master", true); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetActions("underride", ".m.rule.message", []json.RawMessage{}); err != nil {
		t.Fatal(err)
	}
	if err := rs.Put("room", "!r:b", NewRule{Actions: []json.RawMessage{}}, "", ""); err != nil {
		t.Fatal(err)
	}
	// A stored document from an older server: one default it no longer
	// knows, and one of today's defaults missing.
	rs.Override = append(rs.Override, Rule{RuleID: ".m.rule.retired", Default: true, Enabled: true, Actions: []json.RawMessage{}})
	rs.Underride = rs.Underride[:len(rs.Underride)-1]
	stored, err := rs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got := Load(stored, "@a:b")
	master, _ := got.Get("override", ".m.rule.master")
	message, _ := got.Get("underride", ".m.rule.message")
	if !master.Enabled || len(message.Actions) != 0 {
		t.Fatalf("changes of defaults lost: master %+v, message %+v", master, message)
	}
	if _, err := got.Get("override", ".m.rule.retired"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a retired default came back")
	}
	if _, err := got.Get("underride", ".m.rule.encrypted"); err != nil {
		t.Fatal("a current default is missing")
	}
	if ids(got.Room) != "!r:b" {
		t.Fatalf("user rules: %s", ids(got.Room))
	}
	if Load([]byte("not json"), "@a:b").Override[0].RuleID != ".m.rule.master" {
		t.Fatal("unreadable stored rules must give the defaults")
	}
}

func TestRoomMode(t *testing.T) {
	none := []json.RawMessage{}
	notify := []json.RawMessage{json.RawMessage(`"notify"`)}
	roomCond := func(id string) []json.RawMessage {
		return []json.RawMessage{json.RawMessage(`{"kind":"event_match","key":"room_id","pattern":"` + id + `"}`)}
	}
	rs := Defaults("@a:b")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rs.Put("override", "!muted:b", NewRule{Actions: none, Conditions: roomCond("!muted:b")}, "", ""))
	must(rs.Put("override", "!loud:b", NewRule{Actions: notify, Conditions: roomCond("!loud:b")}, "", ""))
	must(rs.Put("room", "!quiet:b", NewRule{Actions: []json.RawMessage{json.RawMessage(`"dont_notify"`)}}, "", ""))
	must(rs.Put("room", "!switched-off:b", NewRule{Actions: none}, "", ""))
	must(rs.SetEnabled("room", "!switched-off:b", false))
	tests := []struct {
		room string
		want RoomMode
	}{
		{"!muted:b", Muted},
		{"!loud:b", NotifyAll},
		{"!quiet:b", MentionsOnly},
		{"!switched-off:b", NotifyAll},
		{"!other:b", NotifyAll},
	}
	for _, tc := range tests {
		if got := rs.RoomMode(tc.room); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.room, got, tc.want)
		}
	}
	must(rs.SetEnabled("override", ".m.rule.master", true))
	if rs.RoomMode("!other:b") != Muted {
		t.Error("the master rule mutes every room")
	}
}

// Whatever a client stored as m.push_rules (clients may write account
// data directly), loading it never fails and keeps every default.
func FuzzLoad(f *testing.F) {
	rs := Defaults("@a:b")
	doc, _ := rs.Marshal()
	f.Add(doc)
	f.Add([]byte(`{"global":{"override":[{"rule_id":"x","default":false,"enabled":true,"actions":null,"conditions":null}]}}`))
	f.Add([]byte(`{"global":{"room":[{"rule_id":".m.rule.master","default":true}]}}`))
	f.Fuzz(func(t *testing.T, stored []byte) {
		got := Load(stored, "@a:b")
		for _, kind := range Kinds {
			want, _ := rs.Kind(kind)
			have, _ := got.Kind(kind)
			for _, d := range want {
				if _, err := got.Get(kind, d.RuleID); err != nil {
					t.Fatalf("default %s lost from %s (%d rules)", d.RuleID, kind, len(have))
				}
			}
		}
		if _, err := got.Marshal(); err != nil {
			t.Fatal(err)
		}
	})
}
