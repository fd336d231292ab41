package syncapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/syncapi/storage"
)

// Local users' typing, read receipts and presence go to other servers:
// the sync API, which sees every change, publishes each as the spec's EDU
// on bus.EphemeralOutSubject, and the federation API queues it for the
// servers that share the room (federationapi/ephemeral_out.go).
//
// Typing is taken from the typing stream as every sync server applies
// it, so that a timeout reaches other servers as a stop just as an
// explicit stop does, and only when it took effect. Every sync server
// applies every update; the message id (the update's sequence) lets the
// stream keep one copy.

// typingFederationFreshness is how old a typing update may be when a sync
// server applies it and still go to other servers: a restarted server
// replays minutes of updates.
const typingFederationFreshness = 20 * time.Second

// federateTyping publishes a local user's typing update that started,
// refreshed or ended typing. It does not wait for the bus: it runs in the
// typing stream's handler, and publishing in order keeps the order.
func (s *Server) federateTyping(seq int64, at time.Time, u typingUpdate, changed bool) {
	if !s.cfg.IsLocal(domainOf(u.UserID)) || !(u.Typing || changed) || time.Since(at) > typingFederationFreshness {
		return
	}
	content, _ := json.Marshal(map[string]any{"room_id": u.RoomID, "user_id": u.UserID, "typing": u.Typing})
	data, _ := json.Marshal(gomatrixserverlib.EDU{Type: spec.MTyping, Origin: string(domainOf(u.UserID)), Content: content})
	f, err := s.bus.JS.PublishAsync(bus.EphemeralOutSubject, data, jetstream.WithMsgID(fmt.Sprintf("typing %d", seq)))
	if err != nil {
		slog.Warn("syncapi: publish typing for federation", "room_id", u.RoomID, "err", err)
		return
	}
	go func() {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			slog.Warn("syncapi: publish typing for federation", "room_id", u.RoomID, "err", err)
		case <-time.After(typingFederationFreshness):
			// No ack (the connection went away); the change is stale now.
		}
	}()
}

// federateReceipt publishes a local user's m.read receipt; private ones
// stay on this server.
func (s *Server) federateReceipt(ctx context.Context, r storage.Receipt) {
	if r.Type != "m.read" || !s.cfg.IsLocal(domainOf(r.UserID)) {
		return
	}
	data := map[string]any{"ts": r.TS}
	if r.ThreadID != "" {
		data["thread_id"] = r.ThreadID
	}
	content := map[string]any{r.RoomID: map[string]any{"m.read": map[string]any{
		r.UserID: map[string]any{"event_ids": []string{r.EventID}, "data": data},
	}}}
	s.publishEDU(ctx, spec.MReceipt, domainOf(r.UserID), content)
}

// federatePresence publishes a local user's new presence. Callers only
// get here with presence switched on.
func (s *Server) federatePresence(ctx context.Context, p storage.Presence) {
	if !s.cfg.Presence.Enabled || !s.cfg.IsLocal(domainOf(p.UserID)) {
		return
	}
	update := presenceContent(p, time.Now())
	update["user_id"] = p.UserID
	s.publishEDU(ctx, spec.MPresence, domainOf(p.UserID), map[string]any{"push": []any{update}})
}

// publishEDU publishes and waits for the bus to store it. The change is
// committed here already, so a failure costs only its federation.
func (s *Server) publishEDU(ctx context.Context, typ string, origin spec.ServerName, content any) {
	c, _ := json.Marshal(content)
	data, _ := json.Marshal(gomatrixserverlib.EDU{Type: typ, Origin: string(origin), Content: c})
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.bus.JS.Publish(ctx, bus.EphemeralOutSubject, data); err != nil {
		slog.Warn("syncapi: publish for federation", "type", typ, "err", err)
	}
}
