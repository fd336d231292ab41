package memberactions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// consumerName is the durable consumer every process running this
// shares, so that each event is acted on once.
const consumerName = "member-actions"

// Deps are the APIs the actions go through, as a client's would.
type Deps struct {
	Bus   *bus.Conn
	Users userapi.API
	Rooms roomserver.API
	// Federation joins rooms no local user is in; nil accepts only
	// invites to rooms this server is in.
	Federation federationapi.API
}

// Actions follows the room events; Stop ends it.
type Actions struct {
	cfg  *config.Config
	deps Deps
	cc   jetstream.ConsumeContext
}

// Start follows the room events if the config asks for any action; it
// returns nil Actions otherwise.
func Start(ctx context.Context, cfg *config.Config, deps Deps) (*Actions, error) {
	if !cfg.AutoAcceptInvites.Enabled && !cfg.ForgetRoomsOnLeave {
		return nil, nil
	}
	c, err := deps.Bus.JS.CreateOrUpdateConsumer(ctx, bus.RoomEventsStream, jetstream.ConsumerConfig{
		Durable:       consumerName,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 64,
		// An action that keeps failing (a remote server that is gone)
		// is given up after a few tries; the user can still act.
		MaxDeliver: 5,
	})
	if err != nil {
		return nil, fmt.Errorf("memberactions consumer: %w", err)
	}
	a := &Actions{cfg: cfg, deps: deps}
	if a.cc, err = c.Consume(a.handle); err != nil {
		return nil, fmt.Errorf("memberactions consume: %w", err)
	}
	deps.Bus.WatchConsumer(c)
	return a, nil
}

// Stop ends the consumer.
func (a *Actions) Stop() {
	if a != nil && a.cc != nil {
		a.cc.Stop()
	}
}

func (a *Actions) handle(msg jetstream.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ev roomserver.OutputEvent
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		slog.Error("memberactions: bad output event", "err", err)
		_ = msg.Term()
		return
	}
	if err := a.act(ctx, &ev); err != nil {
		slog.Warn("memberactions", "room_id", ev.RoomID, "event_id", ev.EventID, "err", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	_ = msg.Ack()
}

// act does what ev asks of, if anything.
func (a *Actions) act(ctx context.Context, ev *roomserver.OutputEvent) error {
	if ev.Type != spec.MRoomMember || ev.StateKey == nil {
		return nil
	}
	user, err := spec.NewUserID(*ev.StateKey, true)
	if err != nil || !a.cfg.IsLocal(user.Domain()) {
		return nil
	}
	switch ev.Membership {
	case spec.Leave, spec.Ban:
		if a.cfg.ForgetRoomsOnLeave {
			return a.forget(ctx, ev.RoomID, *user)
		}
	case spec.Invite:
		if a.acceptable(ev, *user) {
			return a.accept(ctx, ev, *user)
		}
	}
	return nil
}

// forget forgets the room unless the user is back in it already (they
// may have rejoined before this ran).
func (a *Actions) forget(ctx context.Context, roomID string, user spec.UserID) error {
	m, err := a.deps.Rooms.Membership(ctx, roomID, user)
	if err != nil {
		return err
	}
	if m != spec.Leave && m != spec.Ban {
		return nil
	}
	return a.deps.Rooms.ForgetRoom(ctx, roomID, user)
}

// acceptable tells whether auto_accept_invites takes this invite.
func (a *Actions) acceptable(ev *roomserver.OutputEvent, user spec.UserID) bool {
	rule := a.cfg.AutoAcceptInvites
	if !rule.Enabled || ev.Sender == user.String() {
		return false
	}
	sender, err := spec.NewUserID(ev.Sender, true)
	if err != nil {
		return false
	}
	if rule.OnlyFromLocalUsers && !a.cfg.IsLocal(sender.Domain()) {
		return false
	}
	if rule.OnlyForDirectMessages && !gjson.GetBytes(ev.PDU, "content.is_direct").Bool() {
		return false
	}
	return true
}

// accept joins the user with their profile, as their client would, and
// marks a direct chat in their m.direct account data as clients do.
func (a *Actions) accept(ctx context.Context, ev *roomserver.OutputEvent, user spec.UserID) error {
	m, err := a.deps.Rooms.Membership(ctx, ev.RoomID, user)
	if err != nil {
		return err
	}
	if m != spec.Invite {
		return nil // answered already, or the invite was withdrawn
	}
	content := map[string]any{"membership": spec.Join}
	if p, err := a.deps.Users.Profile(ctx, user); err == nil {
		if p.DisplayName != "" {
			content["displayname"] = p.DisplayName
		}
		if p.AvatarURL != "" {
			content["avatar_url"] = p.AvatarURL
		}
	}
	// m.direct first: when the join reaches the user's apps, the room is
	// a direct chat already.
	if gjson.GetBytes(ev.PDU, "content.is_direct").Bool() {
		if err := a.markDirect(ctx, user, ev.Sender, ev.RoomID); err != nil {
			return err
		}
	}
	raw, _ := json.Marshal(content)
	return a.join(ctx, ev, user, raw)
}

// join joins locally when a local user is in the room (always so for an
// invite from a local user), else through the inviter's server.
func (a *Actions) join(ctx context.Context, ev *roomserver.OutputEvent, user spec.UserID, content json.RawMessage) error {
	members, err := a.deps.Rooms.JoinedMembers(ctx, ev.RoomID)
	if err != nil && !errors.Is(err, roomserver.ErrRoomNotFound) {
		return err
	}
	for member := range members {
		if u, err := spec.NewUserID(member, true); err == nil && a.cfg.IsLocal(u.Domain()) {
			key := user.String()
			_, err := a.deps.Rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: ev.RoomID, Sender: user, Type: spec.MRoomMember, StateKey: &key, Content: content})
			return err
		}
	}
	if a.deps.Federation == nil {
		return nil
	}
	sender, err := spec.NewUserID(ev.Sender, true)
	if err != nil {
		return nil
	}
	_, err = a.deps.Federation.JoinRemoteRoom(ctx, federationapi.JoinRequest{UserID: user, RoomID: ev.RoomID, Servers: []spec.ServerName{sender.Domain()}, Content: content})
	return err
}

// markDirect adds the room to the user's m.direct under the inviter.
func (a *Actions) markDirect(ctx context.Context, user spec.UserID, inviter, roomID string) error {
	direct := map[string][]string{}
	raw, err := a.deps.Users.AccountData(ctx, user, "", "m.direct")
	if err != nil && !errors.Is(err, userapi.ErrNotFound) {
		return err
	}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &direct)
	}
	for _, r := range direct[inviter] {
		if r == roomID {
			return nil
		}
	}
	direct[inviter] = append(direct[inviter], roomID)
	out, _ := json.Marshal(direct)
	_, err = a.deps.Users.PutAccountData(ctx, user, "", "m.direct", out)
	return err
}
