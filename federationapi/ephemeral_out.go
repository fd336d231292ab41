package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/roomserver"
)

// Local users' typing, receipts and presence for other servers. The sync
// API sees each change and publishes it as the spec's EDU on
// bus.EphemeralOutSubject (syncapi/ephemeral_out.go); every federation API
// process shares one durable consumer of it, so each change is queued
// once, by whichever process gets it, for the servers that share the room
// (typing, receipts) or any room with the user (presence). From there the
// send queue delivers it like a PDU. Nothing here trusts the bus further
// than the queue does: the origin must be local, a private receipt is
// never sent, and with presence switched off no presence leaves.

const (
	// ephemeralConsumer is the durable consumer federation API processes
	// share.
	ephemeralConsumer = "federation-ephemeral"
	// typingFreshness is how old a typing change may be and still be
	// sent: older ones have timed out at the other end anyway.
	typingFreshness = 30 * time.Second
	// ephemeralAttempts bounds how often a change that cannot be queued
	// (the database or the roomserver is away) is tried; it is ephemeral.
	ephemeralAttempts = 10
)

// startEphemeral follows the local changes.
func (s *Server) startEphemeral(ctx context.Context) error {
	c, err := s.ephemeral.bus.JS.CreateOrUpdateConsumer(ctx, bus.EphemeralStream, jetstream.ConsumerConfig{
		Durable:       ephemeralConsumer,
		FilterSubject: bus.EphemeralOutSubject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    ephemeralAttempts,
	})
	if err != nil {
		return fmt.Errorf("federation ephemeral consumer: %w", err)
	}
	// The handler runs for one message at a time, so within a process a
	// start and the stop after it are queued in that order. Processes
	// share the work: a start and a stop published within the same
	// milliseconds may be queued the other way round by two processes,
	// which costs at most the other server's typing timeout.
	cc, err := c.Consume(s.onLocalEphemeral)
	if err != nil {
		return fmt.Errorf("federation ephemeral consume: %w", err)
	}
	s.ephemeral.consume = cc
	s.ephemeral.bus.WatchConsumer(c)
	return nil
}

func (s *Server) stopEphemeral() {
	if s.ephemeral.consume != nil {
		s.ephemeral.consume.Stop()
	}
}

func (s *Server) onLocalEphemeral(msg jetstream.Msg) {
	var edu gomatrixserverlib.EDU
	if err := json.Unmarshal(msg.Data(), &edu); err != nil {
		slog.Error("federation: bad local EDU", "err", err)
		_ = msg.Term()
		return
	}
	if edu.Type == spec.MTyping {
		if meta, err := msg.Metadata(); err == nil && time.Since(meta.Timestamp) > typingFreshness {
			_ = msg.Ack()
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.queueLocalEDU(ctx, edu)
	switch {
	case err == nil:
		_ = msg.Ack()
	case errors.Is(err, errMalformedEDU) || errors.Is(err, ErrNotLocal) || errors.Is(err, roomserver.ErrRoomNotFound):
		slog.Error("federation: local EDU not sent", "type", edu.Type, "err", err)
		_ = msg.Term()
	default:
		slog.Warn("federation: local EDU not queued yet", "type", edu.Type, "err", err)
		_ = msg.NakWithDelay(2 * time.Second)
	}
}

// queueLocalEDU works out where a local user's EDU goes and queues it.
func (s *Server) queueLocalEDU(ctx context.Context, edu gomatrixserverlib.EDU) error {
	origin := spec.ServerName(edu.Origin)
	if !s.isLocal(origin) {
		return fmt.Errorf("%s from %q: %w", edu.Type, origin, ErrNotLocal)
	}
	switch edu.Type {
	case spec.MTyping:
		t, err := parseTyping(origin, edu.Content)
		if err != nil {
			return err
		}
		c, err := json.Marshal(t)
		if err != nil {
			return err
		}
		return s.sendToRoom(ctx, t.RoomID, gomatrixserverlib.EDU{Type: spec.MTyping, Origin: string(origin), Content: c})
	case spec.MReceipt:
		return s.sendReceipts(ctx, origin, edu.Content)
	case spec.MPresence:
		if !s.cfg.Presence.Enabled {
			return nil
		}
		return s.sendPresence(ctx, origin, spec.ServerName(edu.Destination), edu.Content)
	default:
		return fmt.Errorf("%w: EDU type %q", errMalformedEDU, edu.Type)
	}
}

// sendToRoom queues edu for the servers with joined members in the room.
func (s *Server) sendToRoom(ctx context.Context, roomID string, edu gomatrixserverlib.EDU) error {
	servers, err := s.rooms.ServersInRoom(ctx, roomID)
	if err != nil {
		return err
	}
	return s.queue.SendEDU(ctx, servers, edu)
}

// sendReceipts queues one m.receipt per room, rebuilt from the m.read
// receipts alone, so that whatever else reached the bus (m.read.private
// above all) stays here.
func (s *Server) sendReceipts(ctx context.Context, origin spec.ServerName, content []byte) error {
	receipts, problems := parseReceipts(origin, content)
	if problems != nil {
		slog.Warn("federation: local receipts left out", "err", problems)
	}
	byRoom := map[string]map[string]any{}
	for _, r := range receipts {
		data := map[string]any{"ts": r.TS}
		if r.ThreadID != "" {
			data["thread_id"] = r.ThreadID
		}
		if byRoom[r.RoomID] == nil {
			byRoom[r.RoomID] = map[string]any{}
		}
		byRoom[r.RoomID][r.UserID] = map[string]any{"event_ids": []string{r.EventID}, "data": data}
	}
	for roomID, users := range byRoom {
		c, err := json.Marshal(map[string]any{roomID: map[string]any{"m.read": users}})
		if err != nil {
			return err
		}
		if err := s.sendToRoom(ctx, roomID, gomatrixserverlib.EDU{Type: spec.MReceipt, Origin: string(origin), Content: c}); err != nil {
			return err
		}
	}
	return nil
}

// sendPresence queues each user's presence for the servers that share a
// room with them, or, when the sync API names one (a server that just
// started sharing a room with them, syncapi/presence_share.go), for that
// one alone if it does.
func (s *Server) sendPresence(ctx context.Context, origin, only spec.ServerName, content []byte) error {
	updates, problems := parsePresence(origin, content)
	if problems != nil {
		slog.Warn("federation: local presence left out", "err", problems)
	}
	for _, p := range updates {
		u, err := spec.NewUserID(p.UserID, true)
		if err != nil {
			continue
		}
		rooms, err := s.rooms.JoinedRooms(ctx, *u)
		if err != nil {
			return err
		}
		var dests []spec.ServerName
		for _, roomID := range rooms {
			servers, err := s.rooms.ServersInRoom(ctx, roomID)
			if err != nil {
				return err
			}
			dests = append(dests, servers...)
		}
		slices.Sort(dests)
		if only != "" {
			if !slices.Contains(dests, only) {
				continue
			}
			dests = []spec.ServerName{only}
		}
		c, err := json.Marshal(map[string]any{"push": []presenceUpdate{p}})
		if err != nil {
			return err
		}
		if err := s.queue.SendEDU(ctx, slices.Compact(dests), gomatrixserverlib.EDU{Type: spec.MPresence, Origin: string(origin), Content: c}); err != nil {
			return err
		}
	}
	return nil
}
