package roomserver

import (
	"context"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
)

// Which events of a room another server may see is the federation API's
// decision (federationapi/visibility.go, the spec's history visibility
// rules applied to the server's users). HistoryForServer gathers what it
// decides on, in a fixed number of queries however many events are
// asked about: the room's history_visibility changes and the membership
// changes of the server's users, each with its place in the room's
// history.
//
// Places order the room's history the way the stream does (the order
// clients see it in), with room for what the stream does not hold:
//
//	< 0  backfilled history (2 × its negative stream position)
//	  0  the state the room was joined with from another server: the
//	     state before its first stream event that has one
//	  1  events outside the stream (outliers, rejected and soft-failed
//	     events), judged as if they lay at that state
//	≥ 2  the live stream (2 × its stream position)

// ServerHistory is what decides which events of a room one server may
// see.
type ServerHistory struct {
	// Events are the asked events the room holds.
	Events []HistoryEvent
	// Changes are the room's history_visibility changes and the
	// membership changes of the server's users, by place.
	Changes []HistoryChange
	// FromStart tells that the room's create event has a place: the
	// history before the first history_visibility event is the spec's
	// default, not unknown.
	FromStart bool
}

// HistoryEvent is one event to judge.
type HistoryEvent struct {
	ID       string
	Place    int64
	Type     string
	StateKey *string
	// Value is what a membership or history_visibility event sets.
	Value string
	// Aside: a rejected or soft-failed event, which nobody is shown.
	Aside bool
}

// HistoryChange is a history_visibility change (User "") or a membership
// change of a user.
type HistoryChange struct {
	Place int64
	User  string
	Value string
}

// Places of what is not in the stream; see above.
const (
	PlaceJoinedState = 0
	PlaceOutlier     = 1
)

func placeOf(streamPos int64) int64 {
	if streamPos == 0 {
		return PlaceOutlier
	}
	return 2 * streamPos
}

// HistoryForServer returns what decides which of the room's events among
// eventIDs server may see.
func (s *Server) HistoryForServer(ctx context.Context, roomID string, server spec.ServerName, eventIDs []string) (*ServerHistory, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	out := &ServerHistory{}
	evs, err := s.store.EventsByID(ctx, eventIDs)
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		if e.RoomNID != r.nid {
			continue
		}
		out.Events = append(out.Events, HistoryEvent{ID: e.ID, Place: placeOf(e.StreamPos), Type: e.Type, StateKey: e.StateKey, Value: stateValue(e.Type, e.PDU),
			Aside: e.Rejected || (e.StreamPos == 0 && e.SnapshotBefore != 0)})
	}
	if out.FromStart, err = s.store.CreateInTimeline(ctx, r.nid); err != nil {
		return nil, err
	}
	if out.Changes, err = s.joinedState(ctx, r.nid, server); err != nil {
		return nil, err
	}
	// The stream's changes; history (negative places) sorts before the
	// joined state, the live stream after it.
	var history, live []HistoryChange
	add := func(c HistoryChange) {
		if c.Place < 0 {
			history = append(history, c)
		} else {
			live = append(live, c)
		}
	}
	hvs, err := s.store.StateHistory(ctx, r.nid, spec.MRoomHistoryVisibility, "")
	if err != nil {
		return nil, err
	}
	members, err := s.store.MemberChangesOfServer(ctx, r.nid, string(server))
	if err != nil {
		return nil, err
	}
	// Both lists are in stream order; merge them.
	i, j := 0, 0
	for i < len(hvs) || j < len(members) {
		if j == len(members) || (i < len(hvs) && hvs[i].StreamPos < members[j].StreamPos) {
			add(HistoryChange{Place: placeOf(hvs[i].StreamPos), Value: stateValue(hvs[i].Type, hvs[i].PDU)})
			i++
			continue
		}
		m := members[j]
		j++
		if serverOf(m.UserID) == server {
			add(HistoryChange{Place: placeOf(m.StreamPos), User: m.UserID, Value: m.Membership})
		}
	}
	out.Changes = append(append(history, out.Changes...), live...)
	return out, nil
}

// joinedState is the history_visibility and the memberships of server's
// users in the state the room was joined with, at PlaceJoinedState.
func (s *Server) joinedState(ctx context.Context, roomNID int64, server spec.ServerName) ([]HistoryChange, error) {
	snapshot, err := s.store.FirstLiveSnapshot(ctx, roomNID)
	if err != nil || snapshot == 0 {
		return nil, err
	}
	state, err := s.store.StateAt(ctx, snapshot)
	if err != nil {
		return nil, fmt.Errorf("state joined with: %w", err)
	}
	var nids []int64
	for k, nid := range state {
		if (k[0] == spec.MRoomHistoryVisibility && k[1] == "") || (k[0] == spec.MRoomMember && serverOf(k[1]) == server) {
			nids = append(nids, nid)
		}
	}
	evs, err := s.store.EventsByNID(ctx, nids)
	if err != nil {
		return nil, err
	}
	var out []HistoryChange
	for _, e := range evs {
		c := HistoryChange{Place: PlaceJoinedState, Value: stateValue(e.Type, e.PDU)}
		if e.Type == spec.MRoomMember && e.StateKey != nil {
			c.User = *e.StateKey
		}
		out = append(out, c)
	}
	return out, nil
}

// stateValue is what a membership or history_visibility event sets (read
// from the event: outliers carry no membership column).
func stateValue(evType string, pdu []byte) string {
	switch evType {
	case spec.MRoomMember:
		return gjson.GetBytes(pdu, "content.membership").String()
	case spec.MRoomHistoryVisibility:
		return gjson.GetBytes(pdu, "content.history_visibility").String()
	}
	return ""
}
