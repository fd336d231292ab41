package syncapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/rohrpost/rohrpost/userapi/pushrules"
	uastorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// Push notifications: for each new event, the joined local members it
// notifies under the default push rules and their room settings (the
// same decision as the unread counts, docs/decisions/0005) are told
// through their pushers' gateways, and so are local users invited. The
// sync servers share one durable consumer of the room event stream, so
// each event is pushed by one of them, also across restarts.

// pushConsumer is the durable consumer the sync servers share.
const pushConsumer = "push-sender"

// startPushing follows the room event stream for push notifications.
func (s *Server) startPushing(ctx context.Context) error {
	c, err := s.bus.JS.CreateOrUpdateConsumer(ctx, bus.RoomEventsStream, jetstream.ConsumerConfig{
		Durable:       pushConsumer,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 256,
	})
	if err != nil {
		return fmt.Errorf("syncapi push consumer: %w", err)
	}
	return s.consume(c, func(msg jetstream.Msg) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.pushEvent(ctx, msg.Data()); err != nil {
			slog.Warn("syncapi: push notifications", "err", err)
			_ = msg.NakWithDelay(5 * time.Second)
			return
		}
		_ = msg.Ack()
	})
}

// pushEvent finds who an event notifies and hands the notifications to
// the gateway senders. Errors are of reading; sending is asynchronous.
func (s *Server) pushEvent(ctx context.Context, data []byte) error {
	var out roomserver.OutputEvent
	if err := json.Unmarshal(data, &out); err != nil {
		slog.Error("syncapi: bad output event for push", "err", err)
		return nil
	}
	invite := out.Membership == "invite" && out.StateKey != nil && *out.StateKey != out.Sender && s.cfg.IsLocal(domainOf(*out.StateKey))
	ev := &rsstorage.Event{PushClass: out.PushClass, Mentions: out.Mentions, PDU: out.PDU}
	if !out.Classified {
		// Republished from the database: read what the output left out.
		stored, err := s.events.PushInfo(ctx, out.EventID)
		if errors.Is(err, rsstorage.ErrNotFound) || (err == nil && stored.Rejected) {
			return nil
		}
		if err != nil {
			return err
		}
		ev = stored
	}
	var (
		pushers []uastorage.Pusher
		joined  int
		err     error
	)
	switch {
	case invite: // .m.rule.invite_for_me
		pushers, err = s.accountData.Pushers(ctx, *out.StateKey)
	case ev.PushClass != rsstorage.PushNone || ev.Mentions != "":
		// Most members have no pusher: one statement finds those who do.
		pushers, joined, err = s.accountData.PushersInRoom(ctx, out.RoomNID)
	}
	if err != nil || len(pushers) == 0 {
		return err
	}
	mentioned := strings.Fields(ev.Mentions)
	for user, theirs := range byUser(pushers) {
		if user == out.Sender || !s.cfg.IsLocal(domainOf(user)) {
			continue
		}
		n := notification{event: &out, pdu: ev.PDU, userIsTarget: invite, oneToOne: joined == 2}
		if !invite {
			rules, err := s.pushRulesOf(ctx, user)
			if err != nil {
				return err
			}
			n.highlight = ev.PushClass == rsstorage.PushHighlightAll || slices.Contains(mentioned, user)
			switch rules.RoomMode(out.RoomID) {
			case pushrules.Muted:
				continue
			case pushrules.MentionsOnly:
				if !n.highlight {
					continue
				}
			}
			if ev.PushClass == rsstorage.PushNone && !n.highlight {
				continue
			}
		}
		for _, p := range theirs {
			s.pushes.send(n, p)
		}
	}
	return nil
}

// pushRulesOf is the user's rules; the defaults when they changed none.
func (s *Server) pushRulesOf(ctx context.Context, user string) (*pushrules.Ruleset, error) {
	raw, err := s.accountData.AccountData(ctx, user, "", userapi.PushRulesType)
	if errors.Is(err, uastorage.ErrNotFound) || len(raw) == 0 {
		rs := pushrules.Defaults(user)
		return &rs, nil
	}
	if err != nil {
		return nil, err
	}
	rs := pushrules.Load(raw, user)
	return &rs, nil
}

func byUser(pushers []uastorage.Pusher) map[string][]uastorage.Pusher {
	out := map[string][]uastorage.Pusher{}
	for _, p := range pushers {
		out[p.UserID] = append(out[p.UserID], p)
	}
	return out
}

func domainOf(userID string) spec.ServerName {
	if i := strings.IndexByte(userID, ':'); i >= 0 {
		return spec.ServerName(userID[i+1:])
	}
	return ""
}
