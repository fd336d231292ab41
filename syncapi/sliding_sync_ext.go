package syncapi

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/rohrpost/rohrpost/syncapi/sliding"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
	uastorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// slidingExtensions fills the enabled extensions. Each reads its stream
// between the connection's last token and to; rooms sent whole get their
// receipts, typing and account data whole.
func (s *Server) slidingExtensions(ctx context.Context, b *slidingBuild, resp *sliding.Response) error {
	ext := b.req.Extensions
	if ext.ToDevice != nil {
		if err := s.slidingToDevice(ctx, b, ext.ToDevice, resp); err != nil {
			return err
		}
	}
	if ext.E2EE {
		if err := s.slidingE2EE(ctx, b, resp); err != nil {
			return err
		}
	}
	if ext.AccountData != nil {
		if err := s.slidingAccountData(ctx, b, ext.AccountData, resp); err != nil {
			return err
		}
	}
	if ext.Receipts != nil {
		if err := s.slidingReceipts(ctx, b, ext.Receipts, resp); err != nil {
			return err
		}
	}
	if ext.Typing != nil {
		s.slidingTyping(b, ext.Typing, resp)
	}
	return nil
}

// coveredRooms are the rooms of the answer's lists and subscriptions that
// an extension covers, each with whether the connection gets it whole.
func (b *slidingBuild) coveredRooms(scope *sliding.RoomScope, resp *sliding.Response) map[string]bool {
	out := map[string]bool{}
	for _, id := range b.wanted {
		if scope.Covers(b.inList[id], id, b.subbed[id]) {
			r := resp.Rooms[id]
			out[id] = b.req.from == nil || (r != nil && r.Initial)
		}
	}
	return out
}

func (s *Server) slidingToDevice(ctx context.Context, b *slidingBuild, td *sliding.ToDeviceExtension, resp *sliding.Response) error {
	var since int64
	if td.Since != "" {
		v, err := strconv.ParseInt(td.Since, 10, 64)
		if err != nil || v < 0 {
			// A since of another kind (another server's) starts over.
			v = 0
		}
		since = v
	}
	events, next, err := s.toDeviceEvents(ctx, b.req.device, since, b.to.ToDevice, since == 0)
	if err != nil {
		return err
	}
	if len(events) > td.Limit && td.Limit > 0 {
		// The store caps a batch at maxToDevicePerSync; a smaller limit
		// is honoured by sending the first ones and resuming after them.
		events = events[:td.Limit]
		msgs, err := s.store.ToDeviceFor(ctx, b.user, b.req.device.ID, since, b.to.ToDevice, td.Limit)
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			next = msgs[len(msgs)-1].Pos
		}
	}
	resp.Extensions.ToDevice = &sliding.ToDeviceResponse{NextBatch: strconv.FormatInt(next, 10), Events: events}
	return nil
}

func (s *Server) slidingE2EE(ctx context.Context, b *slidingBuild, resp *sliding.Response) error {
	dev := b.req.device
	counts, err := s.accountData.OneTimeKeyCounts(ctx, b.user, dev.ID)
	if err != nil {
		return err
	}
	if _, ok := counts["signed_curve25519"]; !ok {
		counts["signed_curve25519"] = 0
	}
	fallback, err := s.accountData.UnusedFallbackKeyTypes(ctx, b.user, dev.ID)
	if err != nil {
		return err
	}
	e := &sliding.E2EEResponse{OTKCounts: counts, FallbackKeyTypes: append([]string{}, fallback...)}
	if b.req.from != nil {
		changed, left, err := s.deviceLists(ctx, b.user, b.req.since, b.to)
		if err != nil {
			return err
		}
		if len(changed)+len(left) > 0 {
			e.DeviceLists = &sliding.DeviceLists{Changed: append([]string{}, changed...), Left: append([]string{}, left...)}
		}
	}
	resp.Extensions.E2EE = e
	return nil
}

// slidingAccountData sends what changed since the connection's last
// answer, and all of it for the rooms sent whole (and, on the first
// answer, all global data): the user's other rooms are not read.
func (s *Server) slidingAccountData(ctx context.Context, b *slidingBuild, scope *sliding.RoomScope, resp *sliding.Response) error {
	rooms := b.coveredRooms(scope, resp)
	var whole []string
	if b.req.from == nil {
		whole = append(whole, "")
	}
	for id, w := range rooms {
		if w {
			whole = append(whole, id)
		}
	}
	var items []uastorage.AccountData
	if b.req.from != nil {
		changed, err := s.accountData.AccountDataSince(ctx, b.user, b.req.since.AccountData, b.to.AccountData)
		if err != nil {
			return err
		}
		for _, it := range changed {
			if it.RoomID == "" || !rooms[it.RoomID] { // whole rooms are read below
				items = append(items, it)
			}
		}
	}
	if len(whole) > 0 {
		all, err := s.accountData.AccountDataOfRooms(ctx, b.user, whole, b.to.AccountData)
		if err != nil {
			return err
		}
		items = append(items, all...)
	}
	out := &sliding.AccountDataResponse{Global: []json.RawMessage{}, Rooms: map[string][]json.RawMessage{}}
	event := func(typ string, content json.RawMessage) json.RawMessage {
		ev, _ := json.Marshal(struct {
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		}{typ, content})
		return ev
	}
	sentPushRules := false
	for _, it := range items {
		content := json.RawMessage(it.Content)
		if it.RoomID == "" && it.Type == userapi.PushRulesType {
			// As /sync sends them: the stored changes merged with the
			// server's current defaults.
			content, sentPushRules = currentPushRules(pushRulesIn(it.Content, b.user), b.user), true
		}
		ev := event(it.Type, content)
		if it.RoomID == "" {
			out.Global = append(out.Global, ev)
			continue
		}
		if _, ok := rooms[it.RoomID]; ok {
			out.Rooms[it.RoomID] = append(out.Rooms[it.RoomID], ev)
		}
	}
	if b.req.from == nil && !sentPushRules {
		// A user who never changed a rule has none stored; clients read
		// theirs from the first answer all the same (the spec's defaults).
		out.Global = append(out.Global, event(userapi.PushRulesType, currentPushRules(nil, b.user)))
	}
	resp.Extensions.AccountData = out
	return nil
}

func (s *Server) slidingReceipts(ctx context.Context, b *slidingBuild, scope *sliding.RoomScope, resp *sliding.Response) error {
	rooms := b.coveredRooms(scope, resp)
	byRoom := map[string][]storage.Receipt{}
	if b.req.from != nil && b.req.since.Receipt < b.to.Receipt {
		recent, err := s.store.ReceiptsBetween(ctx, b.req.since.Receipt, b.to.Receipt)
		if err != nil {
			return err
		}
		for _, r := range recent {
			if whole, ok := rooms[r.RoomID]; ok && !whole {
				byRoom[r.RoomID] = append(byRoom[r.RoomID], r)
			}
		}
	}
	var whole []string
	for id, w := range rooms {
		if w {
			whole = append(whole, id)
		}
	}
	if len(whole) > 0 {
		all, err := s.store.ReceiptsOfRooms(ctx, whole, b.to.Receipt)
		if err != nil {
			return err
		}
		for _, r := range all {
			byRoom[r.RoomID] = append(byRoom[r.RoomID], r)
		}
	}
	out := &sliding.RoomEventsResponse{Rooms: map[string]json.RawMessage{}}
	for id, rs := range byRoom {
		if ev := receiptEvent(rs, b.user); ev != nil {
			out.Rooms[id] = ev
		}
	}
	resp.Extensions.Receipts = out
	return nil
}

func (s *Server) slidingTyping(b *slidingBuild, scope *sliding.RoomScope, resp *sliding.Response) {
	out := &sliding.RoomEventsResponse{Rooms: map[string]json.RawMessage{}}
	for id, whole := range b.coveredRooms(scope, resp) {
		// A room sent whole gets its typing list when someone types; the
		// others when it changed, also to empty, after the connection's
		// position (0 included: no typing had happened when it was made).
		if users, changed := s.typing.changedSince(id, b.req.since.Typing, whole || b.req.from == nil); changed {
			ev, _ := json.Marshal(map[string]any{"type": "m.typing", "content": map[string]any{"user_ids": users}})
			out.Rooms[id] = ev
		}
	}
	resp.Extensions.Typing = out
}
