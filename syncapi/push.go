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
	"github.com/tidwall/gjson"

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
		// An event that cannot be read after a few tries is given up
		// rather than retried for ever.
		MaxDeliver: 5,
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
	var naming *roomNaming
	for user, theirs := range byUser(pushers) {
		if user == out.Sender || !s.cfg.IsLocal(domainOf(user)) {
			continue
		}
		n := notification{event: &out, pdu: ev.PDU, userIsTarget: invite, oneToOne: joined == 2}
		rules, err := s.pushRulesOf(ctx, user)
		if err != nil {
			return err
		}
		if invite {
			if rules.RoomMode(out.RoomID) == pushrules.Muted {
				continue // the master rule silences invites too
			}
			if blocked, err := s.blocksInvites(ctx, user); err != nil {
				return err
			} else if blocked {
				continue // not served, so not announced either
			}
		} else {
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
		// The event may be pushed before this server's syncs saw it.
		if n.unread, err = s.badge(ctx, user, rules, max(s.notifier.position().PDU, out.StreamPos)); err != nil {
			return err
		}
		if naming == nil && wantsFullFormat(theirs) {
			naming = s.nameRoom(ctx, out.RoomID, out.Sender)
		}
		n.naming = naming
		for _, p := range theirs {
			s.pushes.send(n, p)
		}
	}
	return nil
}

// badge is the number on the app's icon: how many rooms have messages
// up to stream position to that notify the user unread (Synapse's
// default, rooms rather than messages), with the user's room settings
// applied. Counts are cached
// per room (unread.go), so only rooms with new events cost a query.
func (s *Server) badge(ctx context.Context, user string, rules *pushrules.Ruleset, to int64) (int, error) {
	memberships, err := s.events.MembershipsOfUser(ctx, user)
	if err != nil {
		return 0, err
	}
	read, err := s.store.ReadPositions(ctx, user)
	if err != nil {
		return 0, err
	}
	rooms := 0
	for _, m := range memberships {
		if m.Membership != "join" {
			continue
		}
		counts, err := s.unreadCount(ctx, m.RoomNID, m.RoomID, user, max(read[m.RoomID], m.StreamPos), max(to, m.StreamPos))
		if err != nil {
			return 0, err
		}
		switch rules.RoomMode(m.RoomID) {
		case pushrules.Muted:
			continue
		case pushrules.MentionsOnly:
			counts.Notifications = counts.Highlights
		}
		if counts.Notifications > 0 {
			rooms++
		}
	}
	return rooms, nil
}

// pushBadge tells the user's phones the new badge after a read receipt,
// so the number on the icon goes down without a message arriving.
func (s *Server) pushBadge(user string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pushers, err := s.accountData.Pushers(ctx, user)
	if err != nil || len(pushers) == 0 {
		return
	}
	rules, err := s.pushRulesOf(ctx, user)
	if err != nil {
		return
	}
	unread, err := s.badge(ctx, user, rules, s.notifier.position().PDU)
	if err != nil {
		slog.Warn("syncapi: push badge", "user", user, "err", err)
		return
	}
	for _, p := range pushers {
		s.pushes.send(notification{unread: unread}, p)
	}
}

// roomNaming is how a notification names the room and the sender.
type roomNaming struct {
	roomName, roomAlias, senderName string
}

// nameRoom reads the room's name, canonical alias and the sender's
// display name from the roomserver's current state; what is missing
// stays empty.
func (s *Server) nameRoom(ctx context.Context, roomID, sender string) *roomNaming {
	var n roomNaming
	get := func(evType, key, field string) string {
		ev, err := s.rooms.StateEvent(ctx, roomID, evType, key)
		if err != nil || ev == nil {
			return ""
		}
		return gjson.GetBytes(ev.Content, field).String()
	}
	n.roomAlias = get("m.room.canonical_alias", "", "alias")
	// The room's name as clients show it when it has one of its own or an
	// alias; a name from the members is left to the app.
	if n.roomName = get("m.room.name", "", "name"); n.roomName == "" {
		n.roomName = n.roomAlias
	}
	n.senderName = get("m.room.member", sender, "displayname")
	return &n
}

func wantsFullFormat(pushers []uastorage.Pusher) bool {
	for _, p := range pushers {
		if gjson.Get(p.Data, "format").String() != "event_id_only" {
			return true
		}
	}
	return false
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
