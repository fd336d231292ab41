package syncapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/syncapi/storage"
)

// Typing, receipts and presence of other servers' users. The federation
// API checked them (the sender's server, the room's ACL, the user joined)
// and publishes what passed as the spec's EDU on bus.EphemeralInSubject
// (federationapi/edu_ephemeral.go). The sync servers share one durable
// consumer, so each is applied once: typing goes onto the typing stream
// with a timeout of our own (the other server re-sends while the user
// types, and says when they stop), receipts and presence into their
// tables, and a wake tells every sync server.

const (
	// remoteEphemeralConsumer is the durable consumer sync servers share.
	remoteEphemeralConsumer = "syncapi-ephemeral-in"
	// remoteTypingTimeout is how long a remote user types without another
	// word from their server.
	remoteTypingTimeout = 30 * time.Second
)

// followRemoteEphemeral applies what other servers sent.
func (s *Server) followRemoteEphemeral(ctx context.Context) error {
	c, err := s.bus.JS.CreateOrUpdateConsumer(ctx, bus.EphemeralStream, jetstream.ConsumerConfig{
		Durable:       remoteEphemeralConsumer,
		FilterSubject: bus.EphemeralInSubject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    10,
	})
	if err != nil {
		return fmt.Errorf("syncapi remote ephemeral consumer: %w", err)
	}
	return s.consume(c, s.onRemoteEphemeral)
}

func (s *Server) onRemoteEphemeral(msg jetstream.Msg) {
	var edu gomatrixserverlib.EDU
	if err := json.Unmarshal(msg.Data(), &edu); err != nil {
		slog.Error("syncapi: bad remote EDU", "err", err)
		_ = msg.Term()
		return
	}
	at := time.Now()
	if meta, err := msg.Metadata(); err == nil {
		at = meta.Timestamp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	switch edu.Type {
	case spec.MTyping:
		err = s.applyRemoteTyping(ctx, at, edu.Content)
	case spec.MReceipt:
		err = s.applyRemoteReceipts(ctx, edu.Content)
	case spec.MPresence:
		err = s.applyRemotePresence(ctx, at, edu.Content)
	default:
		slog.Warn("syncapi: remote EDU of unknown type", "type", edu.Type)
	}
	if err != nil {
		slog.Warn("syncapi: remote EDU not applied yet", "type", edu.Type, "origin", edu.Origin, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	_ = msg.Ack()
}

func (s *Server) applyRemoteTyping(ctx context.Context, at time.Time, content []byte) error {
	if time.Since(at) > remoteTypingTimeout {
		return nil
	}
	var t struct {
		RoomID string `json:"room_id"`
		UserID string `json:"user_id"`
		Typing bool   `json:"typing"`
	}
	if err := json.Unmarshal(content, &t); err != nil || t.RoomID == "" || s.cfg.IsLocal(domainOf(t.UserID)) {
		slog.Warn("syncapi: remote typing dropped", "user_id", t.UserID, "err", err)
		return nil
	}
	u := typingUpdate{RoomID: t.RoomID, UserID: t.UserID, Typing: t.Typing}
	if u.Typing {
		u.TimeoutMS = remoteTypingTimeout.Milliseconds()
	}
	return s.publishTyping(ctx, u, "")
}

// remoteReceipts is the content of m.receipt as the federation API passes
// it on: m.read receipts only.
type remoteReceipts map[string]map[string]map[string]struct {
	EventIDs []string `json:"event_ids"`
	Data     struct {
		TS       int64  `json:"ts"`
		ThreadID string `json:"thread_id"`
	} `json:"data"`
}

func (s *Server) applyRemoteReceipts(ctx context.Context, content []byte) error {
	var rooms remoteReceipts
	if err := json.Unmarshal(content, &rooms); err != nil {
		slog.Warn("syncapi: remote receipts dropped", "err", err)
		return nil
	}
	for roomID, types := range rooms {
		for userID, r := range types["m.read"] {
			if len(r.EventIDs) != 1 || s.cfg.IsLocal(domainOf(userID)) {
				continue
			}
			ev, err := s.rooms.Event(ctx, r.EventIDs[0])
			if errors.Is(err, roomserver.ErrEventNotFound) || err == nil && ev.RoomID != roomID {
				// A receipt for an event we do not have shows nothing.
				slog.Info("syncapi: remote receipt for an unknown event dropped", "room_id", roomID, "user_id", userID, "event_id", r.EventIDs[0])
				continue
			}
			if err != nil {
				return err
			}
			ts := r.Data.TS
			if ts == 0 {
				ts = time.Now().UnixMilli()
			}
			pos, err := s.store.PutReceipt(ctx, storage.Receipt{
				RoomID: roomID, UserID: userID, Type: "m.read", ThreadID: r.Data.ThreadID,
				EventID: ev.EventID, EventPos: ev.StreamPos, TS: ts,
			})
			if err != nil {
				return err
			}
			if pos != 0 {
				s.publishWake(syncWake{Receipt: pos, RoomID: roomID, UserID: userID})
			}
		}
	}
	return nil
}

func (s *Server) applyRemotePresence(ctx context.Context, at time.Time, content []byte) error {
	if !s.cfg.Presence.Enabled {
		return nil
	}
	var c struct {
		Push []struct {
			UserID        string  `json:"user_id"`
			Presence      string  `json:"presence"`
			StatusMsg     *string `json:"status_msg"`
			LastActiveAgo int64   `json:"last_active_ago"`
		} `json:"push"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		slog.Warn("syncapi: remote presence dropped", "err", err)
		return nil
	}
	for _, p := range c.Push {
		if !presenceStates[p.Presence] || s.cfg.IsLocal(domainOf(p.UserID)) {
			continue
		}
		pos, err := s.store.PutPresence(ctx, storage.Presence{
			UserID: p.UserID, Presence: p.Presence, StatusMsg: p.StatusMsg,
			LastActiveTS: at.UnixMilli() - max(0, p.LastActiveAgo),
		})
		if err != nil {
			return err
		}
		s.publishWake(syncWake{Presence: pos, UserID: p.UserID})
	}
	return nil
}
