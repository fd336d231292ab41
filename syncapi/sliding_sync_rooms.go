package syncapi

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/syncapi/sliding"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi/pushrules"
	"github.com/tidwall/gjson"
)

// roomUpdate is one room of the answer while it is built: its timeline
// first, then (for all rooms at once) its state.
type roomUpdate struct {
	row    *storage.SlidingRoomRow
	cfg    *sliding.RoomConfig
	prev   *storage.SlidingRoom
	fresh  bool
	upper  int64
	evs    []*rsstorage.Event
	out    *sliding.Room
	lazy   map[string]bool // timeline senders whose member event is due
	heroes []string
	state  []json.RawMessage
}

// slidingRooms builds the rooms of the answer: per room one timeline
// query (and the history visibility it needs), then one query for the
// state of all of them. It returns what the connection will have been
// sent of each room.
func (s *Server) slidingRooms(ctx context.Context, b *slidingBuild, resp *sliding.Response) ([]*storage.SlidingRoom, error) {
	req := b.req
	sreq := &syncRequest{device: req.device, ignored: b.ignored, filter: &Filter{}}
	readPositions, err := s.store.ReadPositionsOf(ctx, b.user, b.wanted)
	if err != nil {
		return nil, err
	}
	ownReceipts, err := s.ownReceiptRooms(ctx, b)
	if err != nil {
		return nil, err
	}
	if req.from != nil {
		if err := s.store.LoadSlidingRooms(ctx, req.from, b.wanted); err != nil {
			return nil, err
		}
	}
	var updates []*roomUpdate
	for _, id := range b.wanted {
		row := b.room(id).row
		u := &roomUpdate{row: row, cfg: b.config[id], lazy: map[string]bool{}}
		if req.from != nil {
			u.prev = req.from.Rooms[id]
		}
		var keep bool
		if row.Membership == spec.Invite || row.Membership == spec.Knock {
			keep, err = s.strippedUpdate(ctx, b, u)
		} else {
			keep, err = s.timelineUpdate(ctx, b, sreq, u, ownReceipts[id])
		}
		if err != nil {
			return nil, err
		}
		if keep {
			updates = append(updates, u)
		}
	}
	if err := s.slidingState(ctx, b, updates); err != nil {
		return nil, err
	}
	saved := make([]*storage.SlidingRoom, 0, len(updates))
	for _, u := range updates {
		if err := s.finishRoom(ctx, b, u, readPositions); err != nil {
			return nil, err
		}
		resp.Rooms[u.row.RoomID] = u.out
		saved = append(saved, u.saved())
	}
	return saved, nil
}

// ownReceiptRooms are the rooms where the user's own read receipts moved
// since the connection's last answer: their unread counts changed.
func (s *Server) ownReceiptRooms(ctx context.Context, b *slidingBuild) (map[string]bool, error) {
	out := map[string]bool{}
	if b.req.from == nil || b.req.since.Receipt >= b.to.Receipt {
		return out, nil
	}
	receipts, err := s.store.ReceiptsBetween(ctx, b.req.since.Receipt, b.to.Receipt)
	if err != nil {
		return nil, err
	}
	for _, r := range receipts {
		if r.UserID == b.user {
			out[r.RoomID] = true
		}
	}
	return out, nil
}

// strippedUpdate is an invite or a knock: the stripped state, once.
func (s *Server) strippedUpdate(ctx context.Context, b *slidingBuild, u *roomUpdate) (bool, error) {
	if u.prev != nil && u.prev.SentTo >= u.row.StreamPos {
		return false, nil
	}
	ir, err := s.invitedRoom(ctx, rsstorage.UserMembership{RoomNID: u.row.RoomNID, RoomID: u.row.RoomID,
		Membership: u.row.Membership, EventNID: u.row.EventNID, StreamPos: u.row.StreamPos})
	if err != nil {
		return false, err
	}
	u.fresh, u.upper = true, u.row.StreamPos
	u.out = &sliding.Room{Initial: true, InviteState: ir.InviteState.Events}
	for _, ev := range ir.InviteState.Events {
		r := gjson.ParseBytes(ev)
		switch r.Get("type").String() {
		case spec.MRoomName:
			u.out.Name = r.Get("content.name").String()
		case "m.room.avatar":
			u.out.Avatar = r.Get("content.url").String()
		}
	}
	return true, nil
}

// timelineUpdate loads the timeline of a joined or left room: all of it
// (up to the limit) when the connection does not have the room or asks
// for more than it was sent, else what came after what it was sent.
func (s *Server) timelineUpdate(ctx context.Context, b *slidingBuild, sreq *syncRequest, u *roomUpdate, receiptMoved bool) (bool, error) {
	row := u.row
	joined := row.Membership == spec.Join
	u.upper = b.to.PDU
	if !joined {
		u.upper = row.StreamPos
	}
	fresh, err := s.needsFresh(ctx, b, u)
	if err != nil {
		return false, err
	}
	u.fresh = fresh
	lower := int64(minPosition)
	if !fresh {
		lower = u.prev.SentTo
		// Latest (from the room index, at b.to) tells without a query
		// that nothing came since the room was sent.
		if (lower >= u.upper || row.Latest <= lower) && !receiptMoved {
			return false, nil
		}
	}
	view, err := s.historyViewOf(ctx, row.RoomNID, b.user, joined)
	if err != nil {
		return false, err
	}
	// The row is the user's current membership: unsigned.membership of the
	// events from it on needs no history.
	view.knowMembership(row.Membership, row.StreamPos)
	limit := u.cfg.TimelineLimit
	evs, limited, err := s.timelineWindow(ctx, row.RoomNID, lower, u.upper, limit, &RoomEventFilter{}, func(batch []*rsstorage.Event) ([]*rsstorage.Event, error) {
		return s.syncFilter(ctx, view, row.RoomNID, batch, b.user)
	})
	if err != nil {
		return false, err
	}
	if !fresh && len(evs) == 0 && !limited && !receiptMoved {
		// Only events hidden from the user came: nothing to tell.
		return false, nil
	}
	u.evs = evs
	to := b.to
	if !joined {
		to.PDU = u.upper
	}
	tl := s.renderTimelineSeen(ctx, sreq, row.RoomID, evs, limited, lower, to, view)
	u.out = &sliding.Room{Initial: fresh, Timeline: tl.Events, PrevBatch: tl.PrevBatch}
	limitedOut := tl.Limited
	u.out.Limited = &limitedOut
	live := 0
	if b.req.from != nil {
		for _, e := range evs {
			if e.StreamPos > b.req.since.PDU {
				live++
			}
		}
	}
	u.out.NumLive = &live
	for _, e := range evs {
		if e.StateKey == nil && b.ignored[e.Sender] {
			continue
		}
		if fresh || !slices.Contains(u.prev.LazyMembers, e.Sender) {
			u.lazy[e.Sender] = true
		}
	}
	return true, nil
}

// needsFresh tells whether the room goes out whole (initial): the
// connection never had it, asks for more state or timeline than it was
// sent with, or the user joined since.
func (s *Server) needsFresh(ctx context.Context, b *slidingBuild, u *roomUpdate) (bool, error) {
	if u.prev == nil {
		return true, nil
	}
	if u.cfg.TimelineLimit > u.prev.TimelineLimit || !b.sentCovers(u.prev.RequiredState, u.cfg.RequiredState) {
		return true, nil
	}
	if u.row.Membership == spec.Join && u.row.StreamPos > u.prev.SentTo {
		before, err := s.events.MembershipAt(ctx, u.row.RoomNID, b.user, u.prev.SentTo)
		if err != nil {
			return false, err
		}
		return before != spec.Join, nil
	}
	return false, nil
}

// sentCovers tells whether the required_state a room was sent with
// covers the one asked for now.
func (b *slidingBuild) sentCovers(sent [][]string, now *sliding.RequiredState) bool {
	var key strings.Builder
	for _, e := range sent {
		for _, v := range e {
			key.WriteString(v)
			key.WriteByte(0)
		}
		key.WriteByte(1)
	}
	k := coverKey{sent: key.String(), now: now}
	if v, ok := b.covers[k]; ok {
		return v
	}
	old, err := sliding.ParseRequiredState(sent)
	v := err == nil && old.Covers(now)
	b.covers[k] = v
	return v
}

// slidingState reads the state of every room of the answer in one query:
// the required state of rooms sent whole, and of the others the name,
// avatar, the heroes' and the new timeline senders' member events;
// changes of other state come from the stream.
func (s *Server) slidingState(ctx context.Context, b *slidingBuild, updates []*roomUpdate) error {
	var nids []int64
	var merged *sliding.RequiredState
	members := map[string]bool{}
	sel := storage.StateSelection{Pairs: [][2]string{{spec.MRoomName, ""}, {"m.room.avatar", ""}}}
	for _, u := range updates {
		if u.out == nil || u.out.InviteState != nil {
			continue
		}
		if sum, err := s.rooms.RoomSummary(ctx, u.row.RoomID, b.req.device.UserID); err == nil {
			u.heroes = sum.Heroes
			u.out.JoinedCount, u.out.InvitedCount = sum.Joined, sum.Invited
		}
		if u.row.Membership != spec.Join {
			// A room left: its state as the leave left it.
			if err := s.leftRoomState(ctx, b, u); err != nil {
				return err
			}
			continue
		}
		nids = append(nids, u.row.RoomNID)
		for _, h := range u.heroes {
			members[h] = true
		}
		for m := range u.lazy {
			members[m] = true
		}
		if u.fresh {
			merged = sliding.Merge(merged, u.cfg.RequiredState)
		} else {
			stateEvs, err := s.stateBetween(ctx, u.row.RoomNID, u.prev.SentTo, u.upper)
			if err != nil {
				return err
			}
			for _, e := range stateEvs {
				if u.cfg.RequiredState.Wants(e.Type, *e.StateKey, b.user, u.lazy) {
					u.state = append(u.state, e.Client)
				}
			}
		}
	}
	if len(nids) == 0 {
		return nil
	}
	var lazyList []string
	for m := range members {
		lazyList = append(lazyList, m)
	}
	full := merged.Selection(b.user, lazyList, lazyList)
	sel.AllTypes, sel.AllMembers = full.AllTypes, full.AllMembers
	sel.Types = full.Types
	sel.Pairs = append(sel.Pairs, full.Pairs...)
	sel.Members = full.Members
	rows, err := s.store.CurrentStateOf(ctx, nids, sel)
	if err != nil {
		return err
	}
	byNID := map[int64]*roomUpdate{}
	for _, u := range updates {
		if u.out != nil && u.out.InviteState == nil && u.row.Membership == spec.Join {
			byNID[u.row.RoomNID] = u
		}
	}
	for _, st := range rows {
		u := byNID[st.RoomNID]
		if u == nil {
			continue
		}
		u.noteState(st.Type, st.StateKey, st.Client)
		switch {
		case u.fresh:
			if u.cfg.RequiredState.Wants(st.Type, st.StateKey, b.user, u.lazy) {
				u.state = append(u.state, st.Client)
			}
		case st.Type == spec.MRoomMember && u.lazy[st.StateKey] && u.cfg.RequiredState.Wants(st.Type, st.StateKey, b.user, u.lazy):
			u.state = append(u.state, st.Client)
		}
	}
	return nil
}

// leftRoomState is the required state of a left room, at the leave.
func (s *Server) leftRoomState(ctx context.Context, b *slidingBuild, u *roomUpdate) error {
	var evs []*rsstorage.Event
	var err error
	if u.fresh {
		evs, err = s.stateAfterEvent(ctx, u.row.EventNID)
	} else {
		evs, err = s.stateBetween(ctx, u.row.RoomNID, u.prev.SentTo, u.upper)
	}
	if err != nil {
		return err
	}
	lazy := map[string]bool{b.user: true}
	for m := range u.lazy {
		lazy[m] = true
	}
	for _, e := range evs {
		if e.StateKey == nil {
			continue
		}
		u.noteState(e.Type, *e.StateKey, e.Client)
		if u.cfg.RequiredState.Wants(e.Type, *e.StateKey, b.user, lazy) {
			u.state = append(u.state, e.Client)
		}
	}
	return nil
}

// noteState picks the room's name, avatar and heroes' profiles out of a
// state event.
func (u *roomUpdate) noteState(evType, stateKey string, client []byte) {
	switch evType {
	case spec.MRoomName:
		u.out.Name = gjson.GetBytes(client, "content.name").String()
	case "m.room.avatar":
		u.out.Avatar = gjson.GetBytes(client, "content.url").String()
	case spec.MRoomMember:
		for i, h := range u.heroes {
			if h == stateKey {
				if len(u.out.Heroes) == 0 {
					u.out.Heroes = make([]sliding.Hero, len(u.heroes))
					for j, id := range u.heroes {
						u.out.Heroes[j].UserID = id
					}
				}
				u.out.Heroes[i].DisplayName = gjson.GetBytes(client, "content.displayname").String()
				u.out.Heroes[i].AvatarURL = gjson.GetBytes(client, "content.avatar_url").String()
			}
		}
	}
}

// finishRoom adds the counts, the bump stamp and is_dm.
func (s *Server) finishRoom(ctx context.Context, b *slidingBuild, u *roomUpdate, readPositions map[string]int64) error {
	out, row := u.out, u.row
	out.RequiredState = u.state
	out.IsDM = b.direct[row.RoomID]
	out.BumpStamp = b.room(row.RoomID).bump
	if out.Name == "" && len(out.Heroes) == 0 && len(u.heroes) > 0 {
		for _, h := range u.heroes {
			out.Heroes = append(out.Heroes, sliding.Hero{UserID: h})
		}
	}
	if row.Membership != spec.Join {
		return nil
	}
	counts, err := s.unreadCount(ctx, row.RoomNID, row.RoomID, b.user, max(readPositions[row.RoomID], row.StreamPos), b.to.PDU)
	if err != nil {
		return err
	}
	if b.pushRules != nil {
		switch b.pushRules.RoomMode(row.RoomID) {
		case pushrules.Muted:
			counts = unreadCounts{}
		case pushrules.MentionsOnly:
			counts.Notifications = counts.Highlights
		}
	}
	out.Notifications, out.Highlights = counts.Notifications, counts.Highlights
	return nil
}

// saved is what the connection has of the room after this answer.
func (u *roomUpdate) saved() *storage.SlidingRoom {
	r := &storage.SlidingRoom{RoomID: u.row.RoomID, SentTo: u.upper, RequiredState: u.cfg.RequiredState.Entries(), TimelineLimit: u.cfg.TimelineLimit}
	if !u.fresh && u.prev != nil {
		r.LazyMembers = append(r.LazyMembers, u.prev.LazyMembers...)
	}
	for m := range u.lazy {
		if !slices.Contains(r.LazyMembers, m) {
			r.LazyMembers = append(r.LazyMembers, m)
		}
	}
	return r
}
