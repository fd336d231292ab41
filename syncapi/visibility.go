package syncapi

import (
	"context"
	"encoding/json"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// historyView decides which events of one room a user may see, by the
// spec's history visibility rules: each event is judged by the room's
// history_visibility before it and the user's membership at it (a user's
// own membership event counts as the membership it sets).
type historyView struct {
	visibility []stateChange // oldest first
	membership []stateChange
	joinedNow  bool
	// open is true when every event is visible: the user is joined and the
	// room's history was never restricted.
	open bool
	// erased senders, and the room version to redact their events with
	// (erasure.go); nil when nobody is erased.
	erased  map[string]bool
	version gomatrixserverlib.IRoomVersion

	// For unsigned.membership (membershipAt): own is the user's current
	// membership and ownPos the stream position of the event that made
	// it, when the caller knows them; loadMembership reads the user's
	// membership history when an open view (which does not need it for
	// visibility) is asked about an event before ownPos.
	own            string
	ownPos         int64
	loadMembership func() ([]stateChange, error)
}

type stateChange struct {
	pos   int64
	value string
}

// historyViewOf loads the two state histories the rules need: the room's
// history_visibility changes and the user's membership changes.
func (s *Server) historyViewOf(ctx context.Context, roomNID int64, user string, joinedNow bool) (*historyView, error) {
	hvs, err := s.events.StateHistory(ctx, roomNID, spec.MRoomHistoryVisibility, "")
	if err != nil {
		return nil, err
	}
	// A room joined through another server: the visibility it had when
	// we joined came with the join's state, outside the stream, and holds
	// from the start of what we have.
	if joined, err := s.events.StateBeforeStream(ctx, roomNID, spec.MRoomHistoryVisibility, ""); err != nil {
		return nil, err
	} else if joined != nil {
		joined.StreamPos = minPosition
		hvs = append([]*rsstorage.Event{joined}, hvs...)
	}
	v := &historyView{joinedNow: joinedNow}
	restricted := false
	for _, e := range hvs {
		val := gjson.GetBytes(e.Client, "content.history_visibility").String()
		if val == "" {
			val = "shared"
		}
		v.visibility = append(v.visibility, stateChange{e.StreamPos, val})
		if val != "shared" && val != "world_readable" {
			restricted = true
		}
	}
	loadMembership := func() ([]stateChange, error) {
		ms, err := s.events.StateHistory(ctx, roomNID, spec.MRoomMember, user)
		if err != nil {
			return nil, err
		}
		out := []stateChange{}
		for _, e := range ms {
			out = append(out, stateChange{e.StreamPos, e.Membership})
		}
		return out, nil
	}
	if joinedNow && !restricted {
		v.open = true
		v.loadMembership = loadMembership
	} else if v.membership, err = loadMembership(); err != nil {
		return nil, err
	}
	if err := s.loadErasure(ctx, v, roomNID, user); err != nil {
		return nil, err
	}
	return v, nil
}

// before returns the value in force just before pos (inclusive when
// atOrBefore), or def.
func before(changes []stateChange, pos int64, inclusive bool, def string) string {
	val := def
	for _, c := range changes {
		if c.pos < pos || (inclusive && c.pos == pos) {
			val = c.value
		} else {
			break
		}
	}
	return val
}

// visible applies the rules to one event.
func (v *historyView) visible(e *rsstorage.Event, user string) bool {
	if v.open {
		return true
	}
	hv := before(v.visibility, e.StreamPos, false, "shared")
	if hv == "world_readable" {
		return true
	}
	ownMembership := e.Type == spec.MRoomMember && e.StateKey != nil && *e.StateKey == user
	if ownMembership && (e.Membership == spec.Leave || e.Membership == spec.Ban) {
		// A user always sees their own leave, or the room would vanish
		// from their client without a trace.
		return true
	}
	membership := before(v.membership, e.StreamPos, ownMembership, spec.Leave)
	switch {
	case membership == spec.Join:
		return true
	case hv == "shared" && v.joinedNow:
		return true
	case hv == "invited" && membership == spec.Invite:
		return true
	}
	return false
}

// knowMembership tells the view the user's current membership and the
// stream position of the event that made it, which spares an open view
// the membership history for the events from then on.
func (v *historyView) knowMembership(membership string, pos int64) {
	v.own, v.ownPos = membership, pos
}

// membershipAt is the user's membership at the event, the event's own
// change included: the spec's unsigned.membership (v1.11), "leave" before
// any. It reads what the visibility rules loaded, or the membership the
// caller made known for events from its position on; the history of an
// open view is read once, when an earlier event asks. "" when it cannot
// be told (the history could not be read).
func (v *historyView) membershipAt(e *rsstorage.Event) string {
	if v.membership == nil && v.own != "" && e.StreamPos >= v.ownPos {
		return v.own
	}
	if v.membership == nil && v.loadMembership != nil {
		ms, err := v.loadMembership()
		v.loadMembership = nil
		if err != nil {
			return ""
		}
		v.membership = ms
	}
	if v.membership == nil {
		return ""
	}
	return before(v.membership, e.StreamPos, true, spec.Leave)
}

// withMembership adds unsigned.membership to an event's client JSON.
func (v *historyView) withMembership(raw json.RawMessage, e *rsstorage.Event) json.RawMessage {
	if v == nil {
		return raw
	}
	m := v.membershipAt(e)
	if m == "" {
		return raw
	}
	out, err := sjson.SetBytes(raw, "unsigned.membership", m)
	if err != nil {
		return raw
	}
	return out
}

// filter keeps the visible events, erased users' ones redacted where the
// user could not see them when they were sent.
func (v *historyView) filter(evs []*rsstorage.Event, user string) []*rsstorage.Event {
	if v.open && v.erased == nil {
		return evs
	}
	out := evs[:0:0]
	for _, e := range evs {
		if v.visible(e, user) {
			out = append(out, v.maybeErase(e, user))
		}
	}
	return out
}

// syncFilter is filter for /sync timelines, which also keep events that are
// part of the room's current state: a client must learn the state it
// shows, even if it changed while the user could not see the room.
func (s *Server) syncFilter(ctx context.Context, v *historyView, roomNID int64, evs []*rsstorage.Event, user string) ([]*rsstorage.Event, error) {
	if v.open && v.erased == nil {
		return evs, nil
	}
	var current map[int64]bool
	out := evs[:0:0]
	for _, e := range evs {
		if v.visible(e, user) {
			out = append(out, v.maybeErase(e, user))
			continue
		}
		if e.StateKey == nil {
			continue
		}
		if current == nil {
			var err error
			if current, err = s.events.CurrentStateNIDs(ctx, roomNID); err != nil {
				return nil, err
			}
		}
		if current[e.NID] {
			out = append(out, e)
		}
	}
	return out, nil
}
