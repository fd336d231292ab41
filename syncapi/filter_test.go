package syncapi

import "testing"

func TestEventFilterAllows(t *testing.T) {
	types := []string{"m.room.*", "org.example.exact"}
	senders := []string{"@a:x"}
	tests := []struct {
		name   string
		f      EventFilter
		evType string
		sender string
		want   bool
	}{
		{"empty filter allows all", EventFilter{}, "m.room.message", "@b:x", true},
		{"wildcard type", EventFilter{Types: &types}, "m.room.message", "@b:x", true},
		{"exact type", EventFilter{Types: &types}, "org.example.exact", "@b:x", true},
		{"type not listed", EventFilter{Types: &types}, "m.reaction", "@b:x", false},
		{"not_types wins", EventFilter{Types: &types, NotTypes: []string{"m.room.member"}}, "m.room.member", "@b:x", false},
		{"sender listed", EventFilter{Senders: &senders}, "m.room.message", "@a:x", true},
		{"sender not listed", EventFilter{Senders: &senders}, "m.room.message", "@b:x", false},
		{"not_senders", EventFilter{NotSenders: senders}, "m.room.message", "@a:x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Allows(tc.evType, tc.sender); got != tc.want {
				t.Fatalf("Allows = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEventFilterLimit(t *testing.T) {
	n, neg, zero, huge := 5, -1, 0, 1<<30
	tests := []struct {
		name  string
		limit *int
		want  int
	}{{"unset", nil, 10}, {"set", &n, 5}, {"negative", &neg, 10}, {"zero", &zero, 0}, {"capped", &huge, 1000}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := EventFilter{Limit: tc.limit}
			if got := f.limit(10, 1000); got != tc.want {
				t.Fatalf("limit = %d, want %d", got, tc.want)
			}
		})
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`{}`, `{"room":{"timeline":{"limit":5,"types":["m.*"]}}}`, `{"room":{"rooms":null}}`, `[]`, `{"room":{"state":{"lazy_load_members":true}}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter([]byte(s))
		if err != nil {
			return
		}
		// Whatever parsed must be usable without panicking.
		flt.Room.Timeline.Allows("!r:x", "m.room.message", "@u:x", false)
		flt.Room.AllowsRoom("!r:x")
		_ = flt.Room.Timeline.limit(10, 1000)
	})
}
