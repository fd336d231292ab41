package syncapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/syncapi/storage"
)

// Presence only moves when it changes: a server that starts sharing a
// room with our users would see them as unknown until each of them next
// changes presence. So a join tells the other side where things stand
// (as Synapse does, SyTest's SYN-115): our user's join sends their
// presence to the servers they now share rooms with, another server's
// user's join sends our members' presence in the room to that server
// only. Every sync replica sees the join; the bus keeps one copy of each
// (the message id names the join).

// maxSharedPresence bounds the members whose presence one remote join
// sends: in a large room the rest become known as they change.
const maxSharedPresence = 100

// remoteJoinSettle is how long after another server's user joined our
// members' presence goes to that server: it stores the room only once our
// answer to its send_join reached it, and takes presence only of users it
// shares a room with.
const remoteJoinSettle = 2 * time.Second

// sharePresenceOnJoin is called for every room event; it does something
// for joins only, with presence switched on.
func (s *Server) sharePresenceOnJoin(ev *roomserver.OutputEvent) {
	if !s.cfg.Presence.Enabled || ev.Membership != spec.Join || ev.StateKey == nil || ev.StreamPos <= 0 {
		return
	}
	joiner := *ev.StateKey
	ctx, cancel := context.WithTimeout(context.Background(), remoteJoinSettle+10*time.Second)
	defer cancel()
	if s.cfg.IsLocal(domainOf(joiner)) {
		p, ok, err := s.store.GetPresence(ctx, joiner)
		if err != nil {
			slog.Warn("syncapi: presence for a join", "user", joiner, "err", err)
		}
		if ok {
			s.publishPresenceTo(ctx, domainOf(joiner), "", ev.EventID, []storage.Presence{p})
		}
		return
	}
	select {
	case <-time.After(remoteJoinSettle):
	case <-s.quit:
		return
	}
	joined, err := s.rooms.JoinedMembers(ctx, ev.RoomID)
	if err != nil {
		slog.Warn("syncapi: members for presence on join", "room_id", ev.RoomID, "err", err)
		return
	}
	members := make([]string, 0, len(joined))
	for u := range joined {
		if s.cfg.IsLocal(domainOf(u)) {
			members = append(members, u)
		}
	}
	slices.Sort(members)
	byOrigin := map[spec.ServerName][]storage.Presence{}
	for _, u := range members[:min(len(members), maxSharedPresence)] {
		p, ok, err := s.store.GetPresence(ctx, u)
		if err != nil {
			slog.Warn("syncapi: presence for a join", "user", u, "err", err)
			return
		}
		if ok {
			byOrigin[domainOf(u)] = append(byOrigin[domainOf(u)], p)
		}
	}
	for origin, ps := range byOrigin {
		s.publishPresenceTo(ctx, origin, domainOf(joiner), ev.EventID, ps)
	}
}

// publishPresenceTo publishes one presence EDU of origin's users for the
// federation API; destination "" means every server that shares a room
// with each user, as for any presence change.
func (s *Server) publishPresenceTo(ctx context.Context, origin, destination spec.ServerName, eventID string, ps []storage.Presence) {
	now := time.Now()
	push := make([]any, 0, len(ps))
	for _, p := range ps {
		update := presenceContent(p, now)
		update["user_id"] = p.UserID
		push = append(push, update)
	}
	c, _ := json.Marshal(map[string]any{"push": push})
	data, _ := json.Marshal(gomatrixserverlib.EDU{Type: spec.MPresence, Origin: string(origin), Destination: string(destination), Content: c})
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	msgID := fmt.Sprintf("join presence %s %s", eventID, origin)
	if _, err := s.bus.JS.Publish(ctx, bus.EphemeralOutSubject, data, jetstream.WithMsgID(msgID)); err != nil {
		slog.Warn("syncapi: publish presence on join", "event_id", eventID, "err", err)
	}
}
