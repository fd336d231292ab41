package syncapi

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/rohrpost/rohrpost/userapi/pushrules"
	uastorage "github.com/rohrpost/rohrpost/userapi/storage"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// buildSync assembles a /sync response for the streams between the
// request's since token and to. Queries are per room, never per event.
func (s *Server) buildSync(ctx context.Context, req *syncRequest, to Token) (_ *syncResponse, err error) {
	dev := req.device
	user := dev.UserID.String()
	initial := req.since == nil
	var since Token
	if !initial {
		since = *req.since
	}
	// The peek position is the device's own: its newest peek.
	for _, p := range req.peeks {
		to.Peek = max(to.Peek, p.StreamPos)
	}
	next := to
	if !initial {
		// A token from the future (another replica, a restarted typing
		// clock) must not move the client backwards.
		next = to.Max(since)
	}
	toDevice, toDevicePos, err := s.toDeviceEvents(ctx, dev, since.ToDevice, to.ToDevice, initial)
	if err != nil {
		return nil, err
	}
	next.ToDevice = toDevicePos
	resp := newSyncResponse(next)
	resp.ToDevice.Events = append(resp.ToDevice.Events, toDevice...)
	if err := s.keyCounts(ctx, dev, resp); err != nil {
		return nil, err
	}
	if !initial {
		changed, left, err := s.deviceLists(ctx, user, since, to)
		if err != nil {
			return nil, err
		}
		resp.DeviceLists.Changed = append(resp.DeviceLists.Changed, changed...)
		resp.DeviceLists.Left = append(resp.DeviceLists.Left, left...)
	}
	// The account data that shapes the response, in one read.
	settings, err := s.accountData.GlobalAccountData(ctx, user, []string{userapi.PushRulesType, ignoredUsersType, invitePermissionType})
	if err != nil {
		return nil, err
	}
	req.pushRules = pushRulesIn(settings[userapi.PushRulesType], user)
	req.ignored = ignoredUsersIn(settings[ignoredUsersType])
	req.invitesBlocked = blocksInvitesIn(settings[invitePermissionType])

	items, err := s.accountData.AccountDataSince(ctx, user, since.AccountData, to.AccountData)
	if err != nil {
		return nil, err
	}
	roomData := map[string][]json.RawMessage{}
	sentPushRules := false
	for _, it := range items {
		content := json.RawMessage(it.Content)
		if it.RoomID == "" && it.Type == userapi.PushRulesType {
			// The rules as GET /pushrules shows them: the stored changes
			// merged with the server's current defaults.
			content, sentPushRules = currentPushRules(req.pushRules, user), true
		}
		ev, _ := json.Marshal(map[string]any{"type": it.Type, "content": content})
		if it.RoomID == "" {
			if req.filter.AccountData.Allows(it.Type, "") {
				resp.AccountData.Events = append(resp.AccountData.Events, ev)
			}
		} else if req.filter.Room.AccountData.Allows(it.RoomID, it.Type, "", false) {
			roomData[it.RoomID] = append(roomData[it.RoomID], ev)
		}
	}

	if initial && !sentPushRules && req.filter.AccountData.Allows(userapi.PushRulesType, "") {
		// A user who never changed a rule has none stored; clients still
		// read theirs from the first sync (the spec's defaults).
		ev, _ := json.Marshal(map[string]any{"type": userapi.PushRulesType, "content": currentPushRules(req.pushRules, user)})
		resp.AccountData.Events = append(resp.AccountData.Events, ev)
	}

	presence, err := s.presenceEvents(ctx, req, since, to)
	if err != nil {
		return nil, err
	}
	resp.Presence.Events = append(resp.Presence.Events, presence...)

	memberships, err := s.events.MembershipsOfUser(ctx, user)
	if err != nil {
		return nil, err
	}
	if initial || req.fullState {
		// Every joined room is in the answer: one query for all read
		// markers instead of one per room.
		if req.readPositions, err = s.store.ReadPositions(ctx, user); err != nil {
			return nil, err
		}
	}
	var newlyJoined, joiners []string
	for _, m := range memberships {
		if !req.filter.Room.AllowsRoom(m.RoomID) || m.StreamPos > to.PDU {
			continue
		}
		changed := initial || m.StreamPos > since.PDU
		switch m.Membership {
		case spec.Join:
			if changed && !initial {
				newlyJoined = append(newlyJoined, m.RoomID)
			}
			jr, err := s.joinedRoom(ctx, req, m, since, to, roomData[m.RoomID])
			if err != nil {
				return nil, err
			}
			if jr != nil {
				resp.Rooms.Join[m.RoomID] = jr
				joiners = append(joiners, jr.joiners...)
			}
		case spec.Invite:
			if changed && !req.invitesBlocked && !s.invitedByIgnored(ctx, req, m) {
				ir, err := s.invitedRoom(ctx, m)
				if err != nil {
					return nil, err
				}
				resp.Rooms.Invite[m.RoomID] = ir
			}
		case spec.Knock:
			if changed {
				kr, err := s.invitedRoom(ctx, m)
				if err != nil {
					return nil, err
				}
				resp.Rooms.Knock[m.RoomID] = &knockedRoom{KnockState: kr.InviteState}
			}
		case spec.Leave, spec.Ban:
			if m.Forgotten {
				continue
			}
			if (!initial && changed) || (initial && req.filter.Room.IncludeLeave) {
				lr, err := s.leftRoom(ctx, req, m, since, roomData[m.RoomID])
				if err != nil {
					return nil, err
				}
				resp.Rooms.Leave[m.RoomID] = lr
			}
		}
	}
	if err := s.addPeekedRooms(ctx, req, memberships, since, to, resp); err != nil {
		return nil, err
	}
	more, err := s.presenceOfNewMembers(ctx, req, newlyJoined, joiners, resp.Presence.Events)
	if err != nil {
		return nil, err
	}
	resp.Presence.Events = append(resp.Presence.Events, more...)
	return resp, nil
}

// maxTimelineScan bounds how many events a timeline looks through when
// history visibility hides most of them.
const maxTimelineScan = 2000

// timelineWindow loads the newest events of a room in (lower, upper] that
// the filter and keep let through, at most limit, oldest first. It pages
// further back while keep drops events, so a timeline is not left empty by
// hidden history. limited says whether anything older was left out.
func (s *Server) timelineWindow(ctx context.Context, roomNID, lower, upper int64, limit int, f *RoomEventFilter,
	keep func([]*rsstorage.Event) ([]*rsstorage.Event, error)) ([]*rsstorage.Event, bool, error) {
	var out []*rsstorage.Event
	dropped := false
	for scanned := 0; scanned < maxTimelineScan && lower < upper; {
		batch, err := s.events.RoomEventsFiltered(ctx, roomNID, lower, upper, limit+1, true, f.storageFilter())
		if err != nil {
			return nil, false, err
		}
		scanned += len(batch)
		kept, err := keep(batch)
		if err != nil {
			return nil, false, err
		}
		dropped = dropped || len(kept) < len(batch)
		out = append(out, kept...)
		if len(out) > limit || len(batch) <= limit {
			break
		}
		upper = batch[len(batch)-1].StreamPos - 1
	}
	limited := len(out) > limit || dropped
	if len(out) > limit {
		out = out[:limit]
	}
	slices.Reverse(out)
	return out, limited, nil
}

func (s *Server) joinedRoom(ctx context.Context, req *syncRequest, m rsstorage.UserMembership, since, to Token, accountData []json.RawMessage) (*joinedRoom, error) {
	initial := req.since == nil
	newlyJoined := false
	if !initial && m.StreamPos > since.PDU {
		// The membership changed since the last sync; it is a new room for
		// the client unless the user was joined then too (a profile change).
		before, err := s.events.MembershipAt(ctx, m.RoomNID, req.device.UserID.String(), since.PDU)
		if err != nil {
			return nil, err
		}
		newlyJoined = before != spec.Join
	}
	jr, err := s.roomSectionOf(ctx, req, m.RoomNID, m.RoomID, since, to, accountData, newlyJoined, true, &m)
	if err != nil || jr == nil {
		return nil, err
	}
	readPos, ok := req.readPositions[m.RoomID]
	if !ok && req.readPositions == nil {
		if readPos, err = s.store.ReadPosition(ctx, m.RoomID, req.device.UserID.String()); err != nil {
			return nil, err
		}
	}
	counts, err := s.unreadCount(ctx, m.RoomNID, m.RoomID, req.device.UserID.String(), max(readPos, m.StreamPos), to.PDU)
	if err != nil {
		return nil, err
	}
	if req.pushRules != nil {
		switch req.pushRules.RoomMode(m.RoomID) {
		case pushrules.Muted:
			counts = unreadCounts{}
		case pushrules.MentionsOnly:
			counts.Notifications = counts.Highlights
		}
	}
	jr.Unread = &counts
	return jr, nil
}

// roomSection is the timeline, state, ephemeral events and summary of a
// room the user sees whole: one they are joined to, or one they peek into
// (joined false). fresh says the client has not had the room since the
// last sync, so it gets its state from the start. It is nil when an
// incremental sync has nothing new for the room.
func (s *Server) roomSection(ctx context.Context, req *syncRequest, roomNID int64, roomID string, since, to Token, accountData []json.RawMessage, fresh, joined bool) (*joinedRoom, error) {
	return s.roomSectionOf(ctx, req, roomNID, roomID, since, to, accountData, fresh, joined, nil)
}

// roomSectionOf is roomSection; own, when known, is the user's current
// membership of the room (the view's unsigned.membership needs no
// history for the events from it on).
func (s *Server) roomSectionOf(ctx context.Context, req *syncRequest, roomNID int64, roomID string, since, to Token, accountData []json.RawMessage, fresh, joined bool, own *rsstorage.UserMembership) (*joinedRoom, error) {
	f := &req.filter.Room
	initial := req.since == nil
	full := initial || fresh || req.fullState
	limit := f.Timeline.limit(defaultTimelineLimit, maxTimelineLimit)

	lower := since.PDU
	if initial || fresh {
		lower = 0
	}
	view, err := s.historyViewOf(ctx, roomNID, req.device.UserID.String(), joined)
	if err != nil {
		return nil, err
	}
	if own != nil {
		view.knowMembership(own.Membership, own.StreamPos)
	}
	evs, limited, err := s.timelineWindow(ctx, roomNID, lower, to.PDU, limit, &f.Timeline, func(b []*rsstorage.Event) ([]*rsstorage.Event, error) {
		return s.syncFilter(ctx, view, roomNID, b, req.device.UserID.String())
	})
	if err != nil {
		return nil, err
	}
	// A room the client has just joined has history it has never seen.
	limited = limited || fresh
	jr := &joinedRoom{
		Timeline:    s.renderTimelineSeen(ctx, req, roomID, evs, limited, lower, to, view),
		Ephemeral:   eventList{Events: []json.RawMessage{}},
		AccountData: eventList{Events: append([]json.RawMessage{}, accountData...)},
	}
	var stateEvs []*rsstorage.Event
	switch {
	case req.stateAfter && full:
		stateEvs, err = s.stateAtTimelineEnd(ctx, roomNID, evs, to.PDU)
	case req.stateAfter:
		stateEvs, err = s.stateBetween(ctx, roomNID, since.PDU, to.PDU)
	case full:
		stateEvs, err = s.stateAtTimelineStart(ctx, roomNID, evs)
	case limited && len(evs) > 0:
		stateEvs, err = s.stateBetween(ctx, roomNID, since.PDU, evs[0].StreamPos-1)
	}
	if err != nil {
		return nil, err
	}
	state := s.renderState(ctx, req, roomID, stateEvs, evs, full)
	jr.State, jr.StateAfter = stateSection(req, state)
	if !initial && joined {
		for _, e := range evs {
			if e.Membership == spec.Join && *e.StateKey != req.device.UserID.String() {
				jr.joiners = append(jr.joiners, *e.StateKey)
			}
		}
	}

	if err := s.addEphemeral(ctx, req, roomID, since, to, jr); err != nil {
		return nil, err
	}
	if !full && len(jr.Timeline.Events) == 0 && len(state) == 0 && len(jr.Ephemeral.Events) == 0 && len(jr.AccountData.Events) == 0 {
		return nil, nil
	}
	if full || len(state) > 0 || hasMemberEvent(evs) {
		if sum, err := s.rooms.RoomSummary(ctx, roomID, req.device.UserID); err == nil {
			jr.Summary = &roomSummary{Heroes: sum.Heroes, Joined: &sum.Joined, Invited: &sum.Invited}
		}
	}
	return jr, nil
}

func hasMemberEvent(evs []*rsstorage.Event) bool {
	for _, e := range evs {
		if e.Type == spec.MRoomMember {
			return true
		}
	}
	return false
}

// renderTimelineSeen turns stored events into the timeline section,
// applying the filter and adding transaction ids for the requesting
// device, with each event's unsigned.membership from the view (none when
// view is nil).
func (s *Server) renderTimelineSeen(ctx context.Context, req *syncRequest, roomID string, evs []*rsstorage.Event, limited bool, lower int64, to Token, view *historyView) timeline {
	tl := timeline{Events: make([]json.RawMessage, 0, len(evs)), Limited: limited}
	prev := to
	prev.PDU = lower
	if len(evs) > 0 {
		prev.PDU = evs[0].StreamPos - 1
		// A timeline that starts with the room's creation has nothing
		// before it. Clients (and SyTest) still expect a prev_batch and a
		// first page from it with events, so the token points just after
		// the create event: paging back yields it once more, then ends.
		if !limited && isCreateEvent(evs[0]) {
			prev.PDU = evs[0].StreamPos
		}
	}
	tl.PrevBatch = prev.String()
	for _, e := range evs {
		if e.StateKey == nil && req.ignored[e.Sender] {
			continue
		}
		ev := s.renderTimelineEvent(ctx, req, e)
		if req.filter.EventFormat != "federation" {
			ev = view.withMembership(ev, e)
		}
		tl.Events = append(tl.Events, ev)
	}
	return tl
}

func hasURL(e *rsstorage.Event) bool {
	return gjson.GetBytes(e.Client, "content.url").Exists()
}

// renderEvent is an event in the format the request's filter asks for.
func isCreateEvent(e *rsstorage.Event) bool {
	return e.Type == spec.MRoomCreate && e.StateKey != nil && *e.StateKey == ""
}

func (s *Server) renderEvent(req *syncRequest, e *rsstorage.Event) json.RawMessage {
	if req.filter.EventFormat == "federation" {
		return federationEvent(e)
	}
	return s.clientEvent(req.device.SessionID, e)
}

// renderTimelineEvent is renderEvent with the thread aggregation of
// thread roots in the client format.
func (s *Server) renderTimelineEvent(ctx context.Context, req *syncRequest, e *rsstorage.Event) json.RawMessage {
	if req.filter.EventFormat == "federation" {
		return federationEvent(e)
	}
	return s.render(ctx, req.device, e)
}

// federationEvent is the event as servers exchange it, with its event id:
// from room version 3 on a PDU does not carry its id (servers compute it
// from the hash), but a client has no business hashing events to learn
// which one it holds.
func federationEvent(e *rsstorage.Event) json.RawMessage {
	if gjson.GetBytes(e.PDU, "event_id").Exists() {
		return e.PDU
	}
	if out, err := sjson.SetBytes(e.PDU, "event_id", e.ID); err == nil {
		return out
	}
	return e.PDU
}

// clientEvent returns the stored client JSON, with unsigned.transaction_id
// for the device that sent it.
func (s *Server) clientEvent(session int64, e *rsstorage.Event) json.RawMessage {
	if e.TxnID != "" && e.TxnSession == session {
		if out, err := sjson.SetBytes(e.Client, "unsigned.transaction_id", e.TxnID); err == nil {
			return out
		}
	}
	return e.Client
}

// stateAtTimelineStart is the room state before the first timeline event,
// or the state after the last event when the timeline is empty.
func (s *Server) stateAtTimelineStart(ctx context.Context, roomNID int64, evs []*rsstorage.Event) ([]*rsstorage.Event, error) {
	var nids []int64
	// Events of a room's history fetched from other servers (backfill)
	// and invites kept before we were in the room have no state of their
	// own: the first event that has one stands in for the start. (Before
	// a create event there is no state at all.)
	for len(evs) > 0 && evs[0].SnapshotBefore == 0 && evs[0].Type != spec.MRoomCreate {
		evs = evs[1:]
	}
	if len(evs) > 0 {
		state, err := s.events.StateAt(ctx, evs[0].SnapshotBefore)
		if err != nil {
			return nil, err
		}
		for _, nid := range state {
			nids = append(nids, nid)
		}
		return s.events.EventsByNID(ctx, nids)
	}
	return s.events.CurrentState(ctx, roomNID)
}

// stateAtTimelineEnd is the room state at stream position end, where the
// timeline evs ends: the state before the timeline with every state
// change since laid over it (the timeline filter may have hidden some).
func (s *Server) stateAtTimelineEnd(ctx context.Context, roomNID int64, evs []*rsstorage.Event, end int64) ([]*rsstorage.Event, error) {
	if len(evs) == 0 {
		return s.events.CurrentState(ctx, roomNID)
	}
	before, err := s.stateAtTimelineStart(ctx, roomNID, evs)
	if err != nil {
		return nil, err
	}
	changes, err := s.stateBetween(ctx, roomNID, evs[0].StreamPos-1, end)
	if err != nil {
		return nil, err
	}
	index := make(map[[2]string]int, len(before))
	for i, e := range before {
		index[[2]string{e.Type, *e.StateKey}] = i
	}
	for _, e := range changes {
		if i, ok := index[[2]string{e.Type, *e.StateKey}]; ok {
			before[i] = e
			continue
		}
		before = append(before, e)
	}
	return before, nil
}

// stateAfterEvent is the room state including the given event.
func (s *Server) stateAfterEvent(ctx context.Context, nid int64) ([]*rsstorage.Event, error) {
	evs, err := s.events.EventsByNID(ctx, []int64{nid})
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	e := evs[0]
	state, err := s.events.StateAt(ctx, e.SnapshotBefore)
	if err != nil {
		return nil, err
	}
	if e.StateKey != nil {
		state[[2]string{e.Type, *e.StateKey}] = e.NID
	}
	nids := make([]int64, 0, len(state))
	for _, n := range state {
		nids = append(nids, n)
	}
	return s.events.EventsByNID(ctx, nids)
}

// stateBetween is the newest state event of each key with from < pos <= to.
func (s *Server) stateBetween(ctx context.Context, roomNID, from, to int64) ([]*rsstorage.Event, error) {
	evs, err := s.events.StateEventsBetween(ctx, roomNID, from, to)
	if err != nil {
		return nil, err
	}
	latest := map[[2]string]int{}
	var out []*rsstorage.Event
	for _, e := range evs {
		k := [2]string{e.Type, *e.StateKey}
		if i, ok := latest[k]; ok {
			out[i] = e
			continue
		}
		latest[k] = len(out)
		out = append(out, e)
	}
	return out, nil
}

// renderState applies the state filter and member lazy-loading. With lazy
// loading, state carries the member events of the timeline's senders that
// this device has not been sent yet (all of them on a full sync).
func (s *Server) renderState(ctx context.Context, req *syncRequest, roomID string, state, timelineEvs []*rsstorage.Event, full bool) []json.RawMessage {
	f := &req.filter.Room.State
	user := req.device.UserID.String()
	out := make([]json.RawMessage, 0, len(state))
	if !f.LazyLoadMembers {
		for _, e := range state {
			if f.Allows(roomID, e.Type, e.Sender, false) {
				out = append(out, s.renderEvent(req, e))
			}
		}
		return out
	}
	key := lazyKey(user, req.device.ID, roomID)
	if full {
		s.lazy.reset(key)
	}
	wanted := map[string]bool{user: true}
	for _, e := range timelineEvs {
		wanted[e.Sender] = true
	}
	var sent []string
	seen := map[string]bool{}
	for _, e := range state {
		if !f.Allows(roomID, e.Type, e.Sender, false) {
			continue
		}
		if e.Type == spec.MRoomMember {
			// Gapped state changes of members always go out; unchanged
			// members only when a timeline sender needs them.
			if full && !wanted[*e.StateKey] {
				continue
			}
			seen[*e.StateKey] = true
			sent = append(sent, *e.StateKey)
		}
		out = append(out, s.renderEvent(req, e))
	}
	for _, e := range timelineEvs {
		if e.Type == spec.MRoomMember {
			seen[*e.StateKey] = true
			sent = append(sent, *e.StateKey)
		}
	}
	// Incremental syncs add the members of timeline senders the device
	// has not been sent yet.
	if !full {
		for u := range wanted {
			if seen[u] || u == user || (s.lazy.has(key, u) && !f.IncludeRedundantMembers) {
				continue
			}
			if ev, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomMember, u); err == nil {
				out = append(out, ev.Client)
				sent = append(sent, u)
			}
		}
	}
	s.lazy.add(key, sent)
	return out
}

// addEphemeral adds typing and receipts to a joined room.
func (s *Server) addEphemeral(ctx context.Context, req *syncRequest, roomID string, since, to Token, jr *joinedRoom) error {
	f := &req.filter.Room.Ephemeral
	if users, changed := s.typing.changedSince(roomID, since.Typing, req.since == nil); changed && f.Allows(roomID, "m.typing", "", false) {
		ev, _ := json.Marshal(map[string]any{"type": "m.typing", "content": map[string]any{"user_ids": users}})
		jr.Ephemeral.Events = append(jr.Ephemeral.Events, ev)
	}
	if !f.Allows(roomID, "m.receipt", "", false) {
		return nil
	}
	receipts, err := s.store.ReceiptsInRoom(ctx, roomID, since.Receipt, to.Receipt)
	if err != nil {
		return err
	}
	if ev := receiptEvent(receipts, req.device.UserID.String()); ev != nil {
		jr.Ephemeral.Events = append(jr.Ephemeral.Events, ev)
	}
	return nil
}

// receiptEvent renders receipts as one m.receipt event; private receipts
// are shown only to their owner.
func receiptEvent(receipts []storage.Receipt, viewer string) json.RawMessage {
	content := map[string]map[string]map[string]map[string]any{}
	for _, r := range receipts {
		if r.Type == "m.read.private" && r.UserID != viewer {
			continue
		}
		byType := content[r.EventID]
		if byType == nil {
			byType = map[string]map[string]map[string]any{}
			content[r.EventID] = byType
		}
		byUser := byType[r.Type]
		if byUser == nil {
			byUser = map[string]map[string]any{}
			byType[r.Type] = byUser
		}
		data := map[string]any{"ts": r.TS}
		if r.ThreadID != "" {
			data["thread_id"] = r.ThreadID
		}
		byUser[r.UserID] = data
	}
	if len(content) == 0 {
		return nil
	}
	ev, _ := json.Marshal(map[string]any{"type": "m.receipt", "content": content})
	return ev
}

// strippedTypes are the state events an invitee sees (the spec's
// recommended stripped state).
var strippedTypes = []string{spec.MRoomCreate, spec.MRoomJoinRules, spec.MRoomName, "m.room.avatar",
	spec.MRoomCanonicalAlias, "m.room.encryption", spec.MRoomTopic}

// invitedRoom is the stripped state an invitee sees; a knocking user sees
// the same with their knock.
func (s *Server) invitedRoom(ctx context.Context, m rsstorage.UserMembership) (*invitedRoom, error) {
	ir := &invitedRoom{InviteState: eventList{Events: []json.RawMessage{}}}
	invite, err := s.events.EventsByNID(ctx, []int64{m.EventNID})
	if err != nil {
		return nil, err
	}
	// An invite from another server to a room we are not in carries the
	// room's stripped state, and so does a knock on one (what send_knock
	// answered).
	for _, e := range invite {
		st := gjson.GetBytes(e.PDU, "unsigned.invite_room_state")
		if !st.IsArray() {
			st = gjson.GetBytes(e.PDU, "unsigned.knock_room_state")
		}
		if st.IsArray() && len(st.Array()) > 0 {
			for _, ev := range st.Array() {
				ir.InviteState.Events = append(ir.InviteState.Events, json.RawMessage(ev.Raw))
			}
			ir.InviteState.Events = append(ir.InviteState.Events, stripped(e.Client))
			return ir, nil
		}
	}
	for _, t := range strippedTypes {
		ev, err := s.rooms.StateEvent(ctx, m.RoomID, t, "")
		if errors.Is(err, roomserver.ErrEventNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ir.InviteState.Events = append(ir.InviteState.Events, stripped(ev.Client))
	}
	for _, e := range invite {
		ir.InviteState.Events = append(ir.InviteState.Events, stripped(e.Client))
	}
	return ir, nil
}

// stripped reduces a client event to the spec's StrippedStateEvent.
func stripped(client json.RawMessage) json.RawMessage {
	r := gjson.ParseBytes(client)
	out, _ := json.Marshal(map[string]any{
		"type": r.Get("type").String(), "state_key": r.Get("state_key").String(), "sender": r.Get("sender").String(),
		"content": json.RawMessage(r.Get("content").Raw),
	})
	return out
}

func (s *Server) leftRoom(ctx context.Context, req *syncRequest, m rsstorage.UserMembership, since Token, accountData []json.RawMessage) (*leftRoom, error) {
	limit := req.filter.Room.Timeline.limit(defaultTimelineLimit, maxTimelineLimit)
	lower := since.PDU
	if req.since == nil {
		lower = 0
	}
	view, err := s.historyViewOf(ctx, m.RoomNID, req.device.UserID.String(), false)
	if err != nil {
		return nil, err
	}
	evs, limited, err := s.timelineWindow(ctx, m.RoomNID, lower, m.StreamPos, limit, &req.filter.Room.Timeline, func(b []*rsstorage.Event) ([]*rsstorage.Event, error) {
		return view.filter(b, req.device.UserID.String()), nil
	})
	if err != nil {
		return nil, err
	}
	// A room the user joined and left since the last sync is new to the
	// client: it gets the full state.
	full := req.since == nil
	if !full {
		before, err := s.events.MembershipAt(ctx, m.RoomNID, req.device.UserID.String(), since.PDU)
		if err != nil {
			return nil, err
		}
		full = before != spec.Join
	}
	to := since
	to.PDU = m.StreamPos
	lr := &leftRoom{
		Timeline:    s.renderTimelineSeen(ctx, req, m.RoomID, evs, limited, lower, to, view),
		AccountData: eventList{Events: append([]json.RawMessage{}, accountData...)},
	}
	var stateEvs []*rsstorage.Event
	switch {
	case req.stateAfter && full:
		// The timeline ends with the user's leave, whatever the filter
		// let through.
		stateEvs, err = s.stateAfterEvent(ctx, m.EventNID)
	case req.stateAfter:
		stateEvs, err = s.stateBetween(ctx, m.RoomNID, since.PDU, m.StreamPos)
	case full && len(evs) == 0:
		stateEvs, err = s.stateAfterEvent(ctx, m.EventNID)
	case full:
		stateEvs, err = s.stateAtTimelineStart(ctx, m.RoomNID, evs)
	case limited && len(evs) > 0:
		stateEvs, err = s.stateBetween(ctx, m.RoomNID, since.PDU, evs[0].StreamPos-1)
	}
	if err != nil {
		return nil, err
	}
	lr.State, lr.StateAfter = stateSection(req, s.renderState(ctx, req, m.RoomID, stateEvs, evs, full))
	return lr, nil
}

// The global account data types /sync reads for itself.
const (
	ignoredUsersType     = "m.ignored_user_list"
	invitePermissionType = "m.invite_permission_config"
)

// pushRulesIn loads the user's push rules, nil when the user has none of
// their own.
func pushRulesIn(raw []byte, user string) *pushrules.Ruleset {
	if len(raw) == 0 {
		return nil
	}
	rs := pushrules.Load(raw, user)
	return &rs
}

// currentPushRules is the m.push_rules content of the user's rules, the
// server defaults when rs is nil (nothing stored).
func currentPushRules(rs *pushrules.Ruleset, user string) json.RawMessage {
	if rs == nil {
		d := pushrules.Defaults(user)
		rs = &d
	}
	raw, err := rs.Marshal()
	if err != nil {
		return json.RawMessage(`{"global":{}}`)
	}
	return raw
}

// ignoredUsersIn reads an m.ignored_user_list.
func ignoredUsersIn(raw []byte) map[string]bool {
	if len(raw) == 0 {
		return nil
	}
	out := map[string]bool{}
	gjson.GetBytes(raw, "ignored_users").ForEach(func(k, _ gjson.Result) bool {
		out[k.String()] = true
		return true
	})
	return out
}

// blocksInvitesIn tells whether an m.invite_permission_config blocks all
// invites (spec v1.18, MSC4380): the user's invites are then not served,
// and come back once the user stops blocking.
func blocksInvitesIn(raw []byte) bool {
	return gjson.GetBytes(raw, "default_action").String() == "block"
}

// blocksInvites reads whether the user blocks all invites.
func (s *Server) blocksInvites(ctx context.Context, user string) (bool, error) {
	raw, err := s.accountData.AccountData(ctx, user, "", invitePermissionType)
	if errors.Is(err, uastorage.ErrNotFound) {
		return false, nil
	}
	return blocksInvitesIn(raw), err
}

// invitedByIgnored tells whether an invite comes from an ignored user.
func (s *Server) invitedByIgnored(ctx context.Context, req *syncRequest, m rsstorage.UserMembership) bool {
	if len(req.ignored) == 0 {
		return false
	}
	evs, err := s.events.EventsByNID(ctx, []int64{m.EventNID})
	return err == nil && len(evs) == 1 && req.ignored[evs[0].Sender]
}
