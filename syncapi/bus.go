package syncapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// A sync server learns of every change from the bus, also of changes it
// made itself, so that replicas behind one entry point wake the same
// syncs: room events from the roomserver's stream, typing from the TYPING
// stream, receipts and presence from wakes other sync servers publish,
// account data from the user API.

// syncWake is published on bus.SyncWakeSubject after a sync server wrote
// a receipt, a presence change, a peek or a to-device message.
type syncWake struct {
	Receipt  int64 `json:"receipt,omitempty"`
	Presence int64 `json:"presence,omitempty"`
	// Peek says the user's peeks changed; the position is per device and
	// read from the database by each sync.
	Peek bool `json:"peek,omitempty"`
	// ToDevice is the position of messages sent to the user's devices.
	ToDevice int64  `json:"to_device,omitempty"`
	RoomID   string `json:"room_id,omitempty"`
	UserID   string `json:"user_id"`
}

// Start follows the bus from now on and expires typing.
func (s *Server) Start(ctx context.Context) error {
	if s.bus == nil {
		return fmt.Errorf("syncapi: no bus")
	}
	rooms, err := s.bus.JS.OrderedConsumer(ctx, bus.RoomEventsStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return fmt.Errorf("syncapi consumer: %w", err)
	}
	if err := s.consume(rooms, func(msg jetstream.Msg) { s.onRoomEvent(msg.Data()) }); err != nil {
		return err
	}
	// Events committed between New and the consumer's start are in the
	// database; take the position from there once more.
	if pos, err := s.events.MaxStreamPos(ctx); err == nil {
		s.notifier.advance(Token{PDU: pos})
	}
	if err := s.followTyping(ctx); err != nil {
		return err
	}
	if err := s.followRemoteEphemeral(ctx); err != nil {
		return err
	}
	if err := s.followFederationToDevice(ctx); err != nil {
		return err
	}
	if err := s.startPushing(ctx); err != nil {
		return err
	}
	erasedSub, err := s.erased.Follow(ctx, s.bus, "syncapi", s.accountData.ErasedUsers)
	if err != nil {
		return err
	}
	s.subs = append(s.subs, erasedSub)
	for subject, h := range map[string]nats.MsgHandler{
		bus.SyncWakeSubject:    func(m *nats.Msg) { s.onWake(m.Data) },
		bus.AccountDataSubject: func(m *nats.Msg) { s.onAccountData(m.Data) },
		bus.KeyChangesSubject:  func(m *nats.Msg) { s.onKeyChange(m.Data) },
	} {
		sub, err := s.bus.NC.Subscribe(subject, h)
		if err != nil {
			return fmt.Errorf("syncapi subscribe %s: %w", subject, err)
		}
		s.subs = append(s.subs, sub)
	}
	// One replica drops a deleted device's inbox.
	sub, err := s.bus.NC.QueueSubscribe(bus.DevicesDeletedSubject, "syncapi", func(m *nats.Msg) { s.onDevicesDeleted(m.Data) })
	if err != nil {
		return fmt.Errorf("syncapi subscribe %s: %w", bus.DevicesDeletedSubject, err)
	}
	s.subs = append(s.subs, sub)
	// The subscriptions must be in place before requests are served, or
	// a sync server could miss its own first wakes.
	if err := s.bus.NC.FlushTimeout(10 * time.Second); err != nil {
		return fmt.Errorf("syncapi subscribe: %w", err)
	}
	go s.expireTyping()
	go s.tidyToDeviceEvery(toDeviceJanitorEvery)
	// Device deletions announced while the connection was down are lost:
	// look for inboxes without a device.
	s.bus.OnReconnect(func() { go s.tidyToDevice() })
	return nil
}

// Stop ends consumption.
func (s *Server) Stop() {
	close(s.quit)
	for _, c := range s.consumers {
		c.Stop()
	}
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
}

func (s *Server) consume(c jetstream.Consumer, h func(jetstream.Msg)) error {
	cc, err := c.Consume(h)
	if err != nil {
		return fmt.Errorf("syncapi consume: %w", err)
	}
	s.consumers = append(s.consumers, cc)
	s.bus.WatchConsumer(c)
	return nil
}

func (s *Server) onRoomEvent(data []byte) {
	var ev roomserver.OutputEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		slog.Error("syncapi: bad output event", "err", err)
		return
	}
	s.ensureRoomMembers(ev.RoomID)
	var extra []string
	if ev.Membership != "" && ev.StateKey != nil {
		s.notifier.setMembership(ev.RoomID, *ev.StateKey, ev.Membership)
		extra = append(extra, *ev.StateKey)
	}
	s.notifier.advanceRoom(Token{PDU: ev.StreamPos}, ev.RoomID, extra...)
	if ev.Membership == "join" {
		go s.sharePresenceOnJoin(&ev)
	}
}

// followTyping replays the typing updates that may still be in effect and
// follows new ones.
func (s *Server) followTyping(ctx context.Context) error {
	stream, err := s.bus.JS.Stream(ctx, bus.TypingStream)
	if err != nil {
		return fmt.Errorf("syncapi typing stream: %w", err)
	}
	s.typing.startAt(int64(stream.CachedInfo().State.LastSeq))
	since := time.Now().Add(-maxTypingTimeout)
	c, err := s.bus.JS.OrderedConsumer(ctx, bus.TypingStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &since,
	})
	if err != nil {
		return fmt.Errorf("syncapi typing consumer: %w", err)
	}
	return s.consume(c, s.onTyping)
}

func (s *Server) onTyping(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		return
	}
	var u typingUpdate
	if err := json.Unmarshal(msg.Data(), &u); err != nil {
		slog.Warn("syncapi: bad typing update", "err", err)
		return
	}
	seq := int64(meta.Sequence.Stream)
	changed := s.typing.apply(seq, meta.Timestamp, u)
	if changed {
		s.ensureRoomMembers(u.RoomID)
		s.notifier.advanceRoom(Token{Typing: seq}, u.RoomID)
	}
	s.federateTyping(seq, meta.Timestamp, u, changed)
}

// publishTyping puts an update on the stream; msgID, when set, lets the
// stream drop the same expiry published by several replicas.
func (s *Server) publishTyping(ctx context.Context, u typingUpdate, msgID string) error {
	data, _ := json.Marshal(u)
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	_, err := s.bus.JS.Publish(ctx, bus.TypingSubject, data, opts...)
	return err
}

func (s *Server) expireTyping() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.quit:
			return
		case now := <-tick.C:
			for _, u := range s.typing.expired(now) {
				id := fmt.Sprintf("expire %s %s %d", u.RoomID, u.UserID, u.IfSeq)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := s.publishTyping(ctx, u, id); err != nil {
					slog.Warn("syncapi: expire typing", "room_id", u.RoomID, "err", err)
				}
				cancel()
			}
		}
	}
}

// publishWake tells every sync server, this one included, about a write.
func (s *Server) publishWake(w syncWake) {
	data, _ := json.Marshal(w)
	if err := s.bus.NC.Publish(bus.SyncWakeSubject, data); err != nil {
		slog.Warn("syncapi: publish wake", "err", err)
		s.applyWake(w)
	}
}

func (s *Server) onWake(data []byte) {
	var w syncWake
	if err := json.Unmarshal(data, &w); err != nil {
		slog.Warn("syncapi: bad wake", "err", err)
		return
	}
	s.applyWake(w)
}

func (s *Server) applyWake(w syncWake) {
	if w.Receipt != 0 && w.RoomID != "" {
		s.ensureRoomMembers(w.RoomID)
		s.notifier.advanceRoom(Token{Receipt: w.Receipt}, w.RoomID, w.UserID)
	}
	if w.Presence != 0 {
		s.wakeCoMembers(context.Background(), w.UserID, Token{Presence: w.Presence})
	}
	if w.Peek {
		s.notifier.advance(Token{}, w.UserID)
	}
	if w.ToDevice != 0 {
		s.notifier.advance(Token{ToDevice: w.ToDevice}, w.UserID)
	}
}

func (s *Server) onAccountData(data []byte) {
	var c userapi.AccountDataChanged
	if err := json.Unmarshal(data, &c); err != nil {
		slog.Warn("syncapi: bad account data change", "err", err)
		return
	}
	s.notifier.advance(Token{AccountData: c.StreamPos}, c.UserID)
}
