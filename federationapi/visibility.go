package federationapi

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// What another server may read of a room's events: the spec's history
// visibility rules ("Room History Visibility", server behaviour) applied
// to the users of that server. An event is visible to a server when
//
//  1. history_visibility was world_readable at it, or
//  2. one of the server's users was joined at it, or
//  3. it was shared and one of the server's users joined at any point
//     after it (or is joined now), or
//  4. it was invited and one of the server's users was invited at it;
//
// a history_visibility event also when the visibility it sets allows it,
// and a member event of one of the server's users also when the
// membership it sets does. "At an event" is the state before it, in the
// order the room's history has here (roomserver/server_history.go).
//
// Events a server may not see go out redacted (/event, /backfill,
// /get_missing_events, /event_auth): it keeps the room's graph whole and
// can check what it gets, but reads none of the content. So do the events
// of a user who was erased (deactivated with erase: true), unless one of
// the server's users was joined when the event was sent and so the server
// has had it all along. The state at an
// event (/state, /state_ids) is only for a server that may see that
// event. A server that never had a user in the room and never could read
// any of it gets 403, as does one the room's server ACL denies
// (docs/decisions/0013-federation.md, "Who may read what").

// Values of m.room.history_visibility.
const (
	worldReadable = "world_readable"
	shared        = "shared"
	invited       = "invited"
	joined        = "joined"
)

// serverView is what one server may see of some events of a room.
type serverView struct {
	// visible holds the judged events we hold: true for visible ones.
	visible map[string]bool
	// standing: the server has or had a user in the room, or some of the
	// room's history is world-readable.
	standing bool
	// witnessed holds the events at which one of the server's users was
	// joined.
	witnessed map[string]bool
	// erased are the erased users; nil when there are none.
	erased map[string]bool
}

// judge applies the rules to h's events for server.
func judge(h *roomserver.ServerHistory, server spec.ServerName) *serverView {
	v := &serverView{visible: make(map[string]bool, len(h.Events)), witnessed: map[string]bool{}}
	st := newSweep(server, h.FromStart)
	// The roomserver sends only the server's users' changes; judge does
	// not rely on it.
	changes := slices.DeleteFunc(slices.Clone(h.Changes), func(c roomserver.HistoryChange) bool {
		return c.User != "" && !st.ofServer(c.User)
	})
	slices.SortStableFunc(changes, func(a, b roomserver.HistoryChange) int { return cmp.Compare(a.Place, b.Place) })
	lastJoin := int64(0)
	hasJoin := false
	for _, c := range changes {
		switch {
		case c.User == "" && normalVisibility(c.Value) == worldReadable:
			v.standing = true
		case c.User != "" && (c.Value == spec.Join || c.Value == spec.Invite):
			v.standing = true
			if c.Value == spec.Join {
				lastJoin, hasJoin = c.Place, true
			}
		}
	}
	events := slices.Clone(h.Events)
	slices.SortStableFunc(events, func(a, b roomserver.HistoryEvent) int { return cmp.Compare(a.Place, b.Place) })
	next := 0
	for _, e := range events {
		// Apply the changes strictly before the event: its state before.
		for next < len(changes) && changes[next].Place < e.Place {
			st.apply(changes[next])
			next++
		}
		v.visible[e.ID] = st.allows(e, hasJoin && lastJoin > e.Place)
		v.witnessed[e.ID] = st.joined > 0
	}
	return v
}

// sweep is the state the rules need, advanced through the room's
// history: the visibility in force and the memberships of the server's
// users.
type sweep struct {
	server     spec.ServerName
	fromStart  bool
	visibility string // "" before the first known change
	members    map[string]string
	joined     int
	invited    int
}

func newSweep(server spec.ServerName, fromStart bool) *sweep {
	return &sweep{server: server, fromStart: fromStart, members: map[string]string{}}
}

func (s *sweep) ofServer(user string) bool {
	u, err := spec.NewUserID(user, true)
	return err == nil && u.Domain() == s.server
}

func (s *sweep) apply(c roomserver.HistoryChange) {
	if c.User == "" {
		s.visibility = normalVisibility(c.Value)
		return
	}
	s.count(s.members[c.User], -1)
	s.members[c.User] = c.Value
	s.count(c.Value, 1)
}

func (s *sweep) count(membership string, delta int) {
	switch membership {
	case spec.Join:
		s.joined += delta
	case spec.Invite:
		s.invited += delta
	}
}

// visibilityAt is the visibility in force at an event. Before the first
// change we know of, it is the spec's default (shared) where we hold the
// room from its creation or the event is live (the state we joined with
// names the visibility, if the room has one); in older history that we
// hold only in part it is unknown, and taken as the strictest.
func (s *sweep) visibilityAt(place int64) string {
	switch {
	case s.visibility != "":
		return s.visibility
	case s.fromStart || place >= roomserver.PlaceJoinedState:
		return shared
	}
	return joined
}

// allows applies the rules to one event; joinedLater tells whether one of
// the server's users joined after it.
func (s *sweep) allows(e roomserver.HistoryEvent, joinedLater bool) bool {
	if e.Aside || (e.Place == roomserver.PlaceOutlier && e.StateKey == nil) {
		// Rejected or soft-failed (an outlier that is not state is one
		// too): nobody is shown it.
		return false
	}
	before := s.visibilityAt(e.Place)
	if rule(before, s.joined > 0, s.invited > 0, joinedLater) {
		return true
	}
	switch {
	case e.Type == spec.MRoomHistoryVisibility && e.StateKey != nil && *e.StateKey == "":
		return rule(normalVisibility(e.Value), s.joined > 0, s.invited > 0, joinedLater)
	case e.Type == spec.MRoomMember && e.StateKey != nil && s.ofServer(*e.StateKey):
		// The memberships after the event: its own replaces the user's.
		joinedAfter, invitedAfter := s.joined, s.invited
		switch s.members[*e.StateKey] {
		case spec.Join:
			joinedAfter--
		case spec.Invite:
			invitedAfter--
		}
		switch e.Value {
		case spec.Join:
			joinedAfter++
		case spec.Invite:
			invitedAfter++
		}
		return rule(before, joinedAfter > 0, invitedAfter > 0, joinedLater)
	}
	return false
}

// rule is the spec's list for one visibility and the server's users'
// memberships at the event.
func rule(visibility string, anyJoined, anyInvited, joinedLater bool) bool {
	switch {
	case visibility == worldReadable, anyJoined:
		return true
	case visibility == shared:
		return joinedLater
	case visibility == invited:
		return anyInvited
	}
	return false
}

// normalVisibility maps what the spec does not know to its default.
func normalVisibility(v string) string {
	switch v {
	case worldReadable, shared, invited, joined:
		return v
	}
	return shared
}

// serverView judges events of a room for origin, after the room's server
// ACL; a server without standing in the room gets 403.
func (s *Server) serverView(ctx context.Context, roomID string, origin spec.ServerName, eventIDs []string) (*serverView, error) {
	if err := s.checkACL(ctx, roomID, origin); err != nil {
		return nil, err
	}
	h, err := s.rooms.HistoryForServer(ctx, roomID, origin, eventIDs)
	if err != nil {
		return nil, wireError(err)
	}
	v := judge(h, origin)
	if !v.standing {
		return nil, mxhttp.Forbidden("server " + string(origin) + " is not in the room")
	}
	v.erased = s.erased.Snapshot()
	return v, nil
}

// serverViewOf is serverView for the events in pdus.
func (s *Server) serverViewOf(ctx context.Context, roomID string, origin spec.ServerName, pdus []gomatrixserverlib.PDU) (*serverView, error) {
	ids := make([]string, 0, len(pdus))
	for _, p := range pdus {
		ids = append(ids, p.EventID())
	}
	return s.serverView(ctx, roomID, origin, ids)
}

// shown is pdus as the server may have them: those it may not see, and
// erased users' ones it has not had, redacted.
func (v *serverView) shown(pdus []gomatrixserverlib.PDU) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(pdus))
	for _, p := range pdus {
		erased := v.erased[string(p.SenderID())] && !v.witnessed[p.EventID()]
		if v.visible[p.EventID()] && !erased {
			out = append(out, json.RawMessage(p.JSON()))
			continue
		}
		verImpl, err := gomatrixserverlib.GetRoomVersion(p.Version())
		if err != nil {
			continue
		}
		redacted, err := verImpl.RedactEventJSON(p.JSON())
		if err != nil {
			slog.Warn("federation: cannot redact an event; left out", "event_id", p.EventID(), "err", err)
			continue
		}
		out = append(out, redacted)
	}
	return out
}
