package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// What other servers read of a room's DAG. These run beside the input
// loop, on published room state and committed rows; none of them writes.
// Whether the asking server may see the answer is the federation API's
// question (it knows the origin); these only return what is stored.

// TemplateRequest is an event another server wants us to build on our view
// of the room (make_join, make_leave, make_knock), for its user to sign.
type TemplateRequest struct {
	RoomID   string
	Sender   string
	Type     string
	StateKey *string
	Content  json.RawMessage
}

// TemplateResponse holds the built event (prev_events, auth_events and
// depth from the room's current state, signed by us only so that it
// parses) and the state events that authorise it.
type TemplateResponse struct {
	Event      gomatrixserverlib.PDU
	AuthEvents []gomatrixserverlib.PDU
}

// EventTemplate builds req on top of the room's current state.
func (s *Server) EventTemplate(ctx context.Context, req TemplateRequest) (*TemplateResponse, error) {
	r, err := s.room(ctx, req.RoomID)
	if err != nil {
		return nil, err
	}
	signer := s.anyKey()
	content := req.Content
	if len(content) == 0 {
		content = json.RawMessage("{}")
	}
	proto := &gomatrixserverlib.ProtoEvent{SenderID: req.Sender, RoomID: r.id, Type: req.Type, StateKey: req.StateKey, Content: spec.RawJSON(content)}
	builder := r.version.NewEventBuilderFromProtoEvent(proto)
	prev := append([]string{}, r.extremities...)
	if len(prev) > 20 {
		prev = prev[len(prev)-20:]
	}
	builder.PrevEvents = prev
	builder.Depth = r.depth + 1
	if err := builder.AddAuthEvents(r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	pdu, err := builder.Build(time.Now(), signer.ServerName, signer.ID, signer.Private)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	needed := gomatrixserverlib.StateNeededForAuth([]gomatrixserverlib.PDU{pdu})
	var auth []gomatrixserverlib.PDU
	for _, t := range needed.Tuples() {
		if ev := r.get(t.EventType, t.StateKey); ev != nil {
			auth = append(auth, ev.pdu)
		}
	}
	return &TemplateResponse{Event: pdu, AuthEvents: auth}, nil
}

// RoomState is the state of a room at some event with its auth chain, as
// /state and send_join answer it.
type RoomState struct {
	RoomVersion string
	State       []gomatrixserverlib.PDU
	AuthChain   []gomatrixserverlib.PDU
}

// StateBefore is the room's state before an event in its timeline (what
// /state and /state_ids return for that event), with its auth chain.
func (s *Server) StateBefore(ctx context.Context, roomID, eventID string) (*RoomState, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	e, err := s.store.EventByID(ctx, eventID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (e.RoomNID != r.nid || e.SnapshotBefore == 0)) {
		return nil, ErrEventNotFound
	}
	if err != nil {
		return nil, err
	}
	nids, err := s.store.StateAt(ctx, e.SnapshotBefore)
	if err != nil {
		return nil, err
	}
	return s.stateWithAuthChain(ctx, r, nids)
}

// CurrentRoomState is the room's current state with its auth chain, what
// send_join and send_knock answer.
func (s *Server) CurrentRoomState(ctx context.Context, roomID string) (*RoomState, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return s.stateWithAuthChain(ctx, r, r.stateNIDs())
}

func (s *Server) stateWithAuthChain(ctx context.Context, r *room, nids map[[2]string]int64) (*RoomState, error) {
	list := make([]int64, 0, len(nids))
	for _, nid := range nids {
		list = append(list, nid)
	}
	evs, err := s.store.EventsByNID(ctx, list)
	if err != nil {
		return nil, err
	}
	out := &RoomState{RoomVersion: string(r.version.Version())}
	for _, e := range evs {
		p, err := r.version.NewEventFromTrustedJSONWithEventID(e.ID, e.PDU, e.Redacted)
		if err != nil {
			return nil, err
		}
		out.State = append(out.State, p)
	}
	out.AuthChain, err = s.authChainOf(ctx, r, out.State)
	return out, err
}

// authChainOf loads the auth chains of events, one query per generation.
func (s *Server) authChainOf(ctx context.Context, r *room, from []gomatrixserverlib.PDU) ([]gomatrixserverlib.PDU, error) {
	seen := map[string]bool{}
	var next []string
	for _, p := range from {
		next = append(next, p.AuthEventIDs()...)
	}
	var out []gomatrixserverlib.PDU
	for len(next) > 0 {
		var want []string
		for _, id := range next {
			if !seen[id] {
				seen[id] = true
				want = append(want, id)
			}
		}
		next = nil
		evs, err := s.eventsOfRoom(ctx, r, want)
		if err != nil {
			return nil, err
		}
		for _, p := range evs {
			out = append(out, p)
			next = append(next, p.AuthEventIDs()...)
		}
	}
	return out, nil
}

// eventsOfRoom loads stored events of the room by id; unknown ids and
// events of other rooms are left out.
func (s *Server) eventsOfRoom(ctx context.Context, r *room, ids []string) ([]gomatrixserverlib.PDU, error) {
	evs, err := s.store.EventsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]gomatrixserverlib.PDU, 0, len(evs))
	for _, e := range evs {
		if e.RoomNID != r.nid {
			continue
		}
		p, err := r.version.NewEventFromTrustedJSONWithEventID(e.ID, e.PDU, e.Redacted)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// EventsByID returns the room's stored events among ids (rejected ones
// included: other servers decide for themselves).
func (s *Server) EventsByID(ctx context.Context, roomID string, ids []string) ([]gomatrixserverlib.PDU, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return s.eventsOfRoom(ctx, r, ids)
}

// RoomOfEvent names the room a stored event belongs to.
func (s *Server) RoomOfEvent(ctx context.Context, eventID string) (string, error) {
	e, err := s.store.EventByID(ctx, eventID)
	if errors.Is(err, storage.ErrNotFound) {
		return "", ErrEventNotFound
	}
	if err != nil {
		return "", err
	}
	row, err := s.store.RoomByNID(ctx, e.RoomNID)
	if err != nil {
		return "", err
	}
	return row.ID, nil
}

// EventAuthChain is the auth chain of one event of the room (/event_auth).
func (s *Server) EventAuthChain(ctx context.Context, roomID, eventID string) ([]gomatrixserverlib.PDU, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	evs, err := s.eventsOfRoom(ctx, r, []string{eventID})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, ErrEventNotFound
	}
	return s.authChainOf(ctx, r, evs)
}

// WalkRequest walks the DAG backwards from some events: /backfill starts
// at and includes From; /get_missing_events starts before From (the
// asker's latest events) and stops at Stop (what the asker has).
type WalkRequest struct {
	RoomID      string
	From        []string
	Stop        []string
	IncludeFrom bool
	Limit       int
	MinDepth    int64
}

// WalkBack returns up to Limit events reached backwards through
// prev_events, breadth first (newest generation first), sorted oldest
// first.
func (s *Server) WalkBack(ctx context.Context, req WalkRequest) ([]gomatrixserverlib.PDU, error) {
	r, err := s.room(ctx, req.RoomID)
	if err != nil {
		return nil, err
	}
	limit := min(max(req.Limit, 0), 100)
	seen := map[string]bool{}
	for _, id := range req.Stop {
		seen[id] = true
	}
	var next []string
	if req.IncludeFrom {
		next = slices.Clone(req.From)
	} else {
		from, err := s.eventsOfRoom(ctx, r, req.From)
		if err != nil {
			return nil, err
		}
		for _, p := range from {
			seen[p.EventID()] = true
			next = append(next, p.PrevEventIDs()...)
		}
	}
	var out []gomatrixserverlib.PDU
	for len(next) > 0 && len(out) < limit {
		var want []string
		for _, id := range next {
			if !seen[id] {
				seen[id] = true
				want = append(want, id)
			}
		}
		next = nil
		evs, err := s.eventsOfRoom(ctx, r, want)
		if err != nil {
			return nil, err
		}
		sort.Slice(evs, func(i, j int) bool { return evs[i].Depth() > evs[j].Depth() })
		for _, p := range evs {
			if len(out) == limit {
				break
			}
			if p.Depth() < req.MinDepth {
				continue
			}
			out = append(out, p)
			next = append(next, p.PrevEventIDs()...)
		}
	}
	slices.Reverse(out)
	return out, nil
}

// ServersInRoom names the servers with joined members, from current state.
func (s *Server) ServersInRoom(ctx context.Context, roomID string) ([]spec.ServerName, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	seen := map[spec.ServerName]bool{}
	var out []spec.ServerName
	for k, ev := range r.state {
		if k.EventType != spec.MRoomMember {
			continue
		}
		if m, _ := ev.pdu.Membership(); m != spec.Join {
			continue
		}
		u, err := spec.NewUserID(k.StateKey, true)
		if err != nil || seen[u.Domain()] {
			continue
		}
		seen[u.Domain()] = true
		out = append(out, u.Domain())
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// Extremities are the room's forward extremities: what we have of its
// newest events (the "earliest" of a /get_missing_events).
func (s *Server) Extremities(ctx context.Context, roomID string) ([]string, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return slices.Clone(r.extremities), nil
}
