package sliding

import (
	"errors"
	"slices"
	"strings"
)

// Special values in required_state.
const (
	Wildcard     = "*"
	StateKeyMe   = "$ME"
	StateKeyLazy = "$LAZY"
	memberType   = "m.room.member"
)

// RequiredState is a compiled required_state: which state events of a
// room the client wants.
//
// Entries are [type, state_key] pairs: "*" as a state key means every
// key of the type, "*" as a type every type with that key, "$ME" the
// user's own id, and ["m.room.member", "$LAZY"] the members who sent an
// event in the timeline. ["*", "*"] asks for all state; the entries
// besides it then exclude (["m.room.member", "$LAZY"] keeps member events
// lazy, ["m.room.member", "$ME"] keeps the user's own).
type RequiredState struct {
	All      bool
	Excluded map[[2]string]bool
	Types    map[string]bool    // [type, "*"]
	Keys     map[string]bool    // ["*", key]
	Pairs    map[[2]string]bool // [type, key]
	Lazy     bool               // [m.room.member, $LAZY]
}

// ErrBadRequiredState is a required_state entry that is not a pair of
// strings.
var ErrBadRequiredState = errors.New("required_state entries are pairs of strings")

// ParseRequiredState compiles the wire form.
func ParseRequiredState(entries [][]string) (*RequiredState, error) {
	rs := &RequiredState{Excluded: map[[2]string]bool{}, Types: map[string]bool{}, Keys: map[string]bool{}, Pairs: map[[2]string]bool{}}
	for _, e := range entries {
		if len(e) != 2 {
			return nil, ErrBadRequiredState
		}
		if e[0] == Wildcard && e[1] == Wildcard {
			rs.All = true
		}
	}
	for _, e := range entries {
		t, k := e[0], e[1]
		switch {
		case t == Wildcard && k == Wildcard:
		case t == memberType && k == StateKeyLazy:
			rs.Lazy = true
		case rs.All && t == memberType && k == StateKeyMe:
			rs.Pairs[[2]string{t, k}] = true
		case rs.All:
			rs.Excluded[[2]string{t, k}] = true
		case k == Wildcard:
			rs.Types[t] = true
		case t == Wildcard:
			rs.Keys[k] = true
		default:
			rs.Pairs[[2]string{t, k}] = true
		}
	}
	return rs, nil
}

// Empty tells whether no state at all is asked for.
func (rs *RequiredState) Empty() bool {
	return rs == nil || (!rs.All && !rs.Lazy && len(rs.Types) == 0 && len(rs.Keys) == 0 && len(rs.Pairs) == 0)
}

// Wants tells whether the state event (evType, stateKey) is asked for,
// for user me, with lazy the members of the timeline's senders.
func (rs *RequiredState) Wants(evType, stateKey, me string, lazy map[string]bool) bool {
	if rs == nil {
		return false
	}
	if rs.All {
		if evType == memberType && rs.Lazy {
			return lazy[stateKey] || (stateKey == me && rs.Pairs[[2]string{memberType, StateKeyMe}])
		}
		if rs.Excluded[[2]string{evType, Wildcard}] || rs.Excluded[[2]string{evType, stateKey}] ||
			rs.Excluded[[2]string{Wildcard, stateKey}] || (stateKey == me && rs.Excluded[[2]string{evType, StateKeyMe}]) {
			return false
		}
		return true
	}
	if rs.Types[evType] || rs.Keys[stateKey] || rs.Pairs[[2]string{evType, stateKey}] {
		return true
	}
	if stateKey == me && (rs.Keys[StateKeyMe] || rs.Pairs[[2]string{evType, StateKeyMe}]) {
		return true
	}
	return evType == memberType && rs.Lazy && lazy[stateKey]
}

// Selection says which rows of a room's current state to read so that
// Wants can decide; extraMembers are member events needed besides (the
// heroes'), lazy the timeline's senders.
func (rs *RequiredState) Selection(me string, lazy []string, extraMembers []string) Selection {
	sel := Selection{}
	members := map[string]bool{}
	for _, m := range extraMembers {
		members[m] = true
	}
	switch {
	case rs == nil:
	case rs.All || len(rs.Keys) > 0:
		sel.AllTypes = true
		sel.AllMembers = rs.All && !rs.Lazy && !rs.Excluded[[2]string{memberType, Wildcard}]
	default:
		for t := range rs.Types {
			if t == memberType {
				sel.AllMembers = true
				continue
			}
			sel.Types = append(sel.Types, t)
		}
		for p := range rs.Pairs {
			k := p[1]
			if k == StateKeyMe {
				k = me
			}
			if p[0] == memberType {
				members[k] = true
				continue
			}
			sel.Pairs = append(sel.Pairs, [2]string{p[0], k})
		}
	}
	if rs != nil && rs.Lazy {
		for _, m := range lazy {
			members[m] = true
		}
	}
	if rs != nil && (rs.Keys[StateKeyMe] || rs.Keys[me]) {
		members[me] = true
	}
	if rs != nil && rs.All && rs.Pairs[[2]string{memberType, StateKeyMe}] {
		members[me] = true
	}
	if !sel.AllMembers {
		for m := range members {
			sel.Members = append(sel.Members, m)
		}
	}
	slices.Sort(sel.Types)
	slices.Sort(sel.Members)
	slices.SortFunc(sel.Pairs, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	return sel
}

// Selection is which rows of a room's current state to read: every
// non-member type (AllTypes), these types with every key, these exact
// pairs, every member or these members.
type Selection struct {
	AllTypes   bool
	Types      []string
	Pairs      [][2]string
	AllMembers bool
	Members    []string
}

// Merge is the union of two required_states (a room in two lists, or in
// a list and a subscription).
func Merge(a, b *RequiredState) *RequiredState {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := &RequiredState{All: a.All || b.All, Lazy: a.Lazy || b.Lazy, Excluded: map[[2]string]bool{},
		Types: map[string]bool{}, Keys: map[string]bool{}, Pairs: map[[2]string]bool{}}
	for _, rs := range []*RequiredState{a, b} {
		for t := range rs.Types {
			out.Types[t] = true
		}
		for k := range rs.Keys {
			out.Keys[k] = true
		}
		for p := range rs.Pairs {
			out.Pairs[p] = true
		}
	}
	switch {
	case a.All && b.All:
		// In "everything" mode $LAZY narrows members: only when both do.
		out.Lazy = a.Lazy && b.Lazy
		for p := range a.Excluded {
			if b.Excluded[p] {
				out.Excluded[p] = true
			}
		}
	case a.All || b.All:
		all, other := a, b
		if b.All {
			all, other = b, a
		}
		out.Lazy = all.Lazy && !other.Types[memberType]
		for p := range all.Excluded {
			if !other.Types[p[0]] && !other.Keys[p[1]] && !other.Pairs[p] {
				out.Excluded[p] = true
			}
		}
	}
	if out.All {
		// Inclusions mean nothing next to "everything"; only the user's
		// own member event matters when members are lazy.
		me := out.Pairs[[2]string{memberType, StateKeyMe}] || out.Keys[StateKeyMe]
		out.Types, out.Keys, out.Pairs = map[string]bool{}, map[string]bool{}, map[[2]string]bool{}
		if me {
			out.Pairs[[2]string{memberType, StateKeyMe}] = true
		}
	}
	return out
}

// Entries is the wire form of rs, sorted; ParseRequiredState compiles
// it back to the same rules. It is what a connection stores.
func (rs *RequiredState) Entries() [][]string {
	out := [][]string{}
	if rs == nil {
		return out
	}
	if rs.All {
		out = append(out, []string{Wildcard, Wildcard})
	}
	if rs.Lazy {
		out = append(out, []string{memberType, StateKeyLazy})
	}
	var rest [][]string
	for p := range rs.Excluded {
		rest = append(rest, []string{p[0], p[1]})
	}
	for t := range rs.Types {
		rest = append(rest, []string{t, Wildcard})
	}
	for k := range rs.Keys {
		rest = append(rest, []string{Wildcard, k})
	}
	for p := range rs.Pairs {
		rest = append(rest, []string{p[0], p[1]})
	}
	slices.SortFunc(rest, func(a, b []string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	return append(out, rest...)
}

// Key is a canonical string form, to compare configs.
func (rs *RequiredState) Key() string {
	var b strings.Builder
	for _, e := range rs.Entries() {
		b.WriteString(e[0])
		b.WriteByte(0)
		b.WriteString(e[1])
		b.WriteByte(0)
	}
	return b.String()
}

// Covers tells whether rs asks for at least everything old asked for. A
// room a connection has sent under old must be sent afresh when the new
// config does not cover the new one's wishes: old.Covers(new) is false.
func (rs *RequiredState) Covers(other *RequiredState) bool {
	if other.Empty() {
		return true
	}
	if rs == nil {
		return false
	}
	return Merge(rs, other).Key() == rs.Key()
}
