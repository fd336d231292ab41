package syncapi

import (
	"context"
	"slices"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/syncapi/sliding"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/rohrpost/rohrpost/userapi/pushrules"
	"github.com/tidwall/gjson"
)

// bumpTypes are the event types that move a room up a list (Synapse's
// defaults): messages and calls do; joins, renames and reactions do not.
var bumpTypes = []string{"m.room.create", "m.room.message", "m.room.encrypted", "m.sticker", "m.call.invite", "m.poll.start", "m.beacon_info"}

const directType = "m.direct"

// slidingBuild is one answer in the making: the user's rooms as the lists
// see them, and per room the lists it is in and the config it is sent
// with.
type slidingBuild struct {
	req  *slidingRequest
	user string
	to   Token
	// rooms are the user's rooms at to (sliding_sync_index.go), shared
	// with other requests: read only.
	rooms *roomSnapshot
	// forgotten are the left rooms of rooms forgotten since it was read.
	forgotten map[int64]bool
	// wanted are the rooms of the answer in the order they were chosen.
	wanted []string
	config map[string]*sliding.RoomConfig
	inList map[string][]string
	subbed map[string]bool

	ignored        map[string]bool
	invitesBlocked bool
	pushRules      *pushrules.Ruleset
	direct         map[string]bool
	// tags and inSpaces are read when a list's filters need them: the
	// rooms' m.tag, and the children of the filters' spaces.
	tags     map[string]map[string]bool
	inSpaces map[string]bool
	// covers remembers whether a required_state a room was sent with
	// covers the one asked for now: the rooms of a list share both.
	covers map[coverKey]bool
}

type coverKey struct {
	sent string
	now  *sliding.RequiredState
}

func (s *Server) newSlidingBuild(ctx context.Context, req *slidingRequest, to Token) (*slidingBuild, error) {
	user := req.device.UserID.String()
	b := &slidingBuild{req: req, user: user, to: to, config: map[string]*sliding.RoomConfig{}, inList: map[string][]string{},
		subbed: map[string]bool{}, direct: map[string]bool{}, covers: map[coverKey]bool{}}
	settings, err := s.accountData.GlobalAccountData(ctx, user, []string{userapi.PushRulesType, ignoredUsersType, invitePermissionType, directType})
	if err != nil {
		return nil, err
	}
	b.pushRules = pushRulesIn(settings[userapi.PushRulesType], user)
	b.ignored = ignoredUsersIn(settings[ignoredUsersType])
	b.invitesBlocked = blocksInvitesIn(settings[invitePermissionType])
	gjson.ParseBytes(settings[directType]).ForEach(func(_, rooms gjson.Result) bool {
		for _, r := range rooms.Array() {
			b.direct[r.String()] = true
		}
		return true
	})
	if len(req.Lists) == 0 && len(req.RoomSubscriptions) == 0 {
		// Element X's encryption connection: extensions only.
		b.rooms = &roomSnapshot{pos: to.PDU}
		return b, nil
	}
	needMeta := false
	for _, l := range req.Lists {
		needMeta = needMeta || l.Filters.NeedsRoomState()
	}
	if b.rooms, err = s.userRooms(ctx, user, to.PDU, needMeta); err != nil {
		return nil, err
	}
	// The index may be further than to: the answer goes up to it.
	b.to.PDU = b.rooms.pos
	if req.from != nil {
		// listed asks whether the connection has the rooms the user
		// left since its last answer.
		var left []string
		for _, r := range b.rooms.left {
			if r.row.Sender == user && r.row.StreamPos > req.since.PDU {
				left = append(left, r.row.RoomID)
			}
		}
		if err := s.store.LoadSlidingRooms(ctx, req.from, left); err != nil {
			return nil, err
		}
	}
	// Forgetting moves no stream: ask about the left rooms this answer
	// could show.
	var maybe []int64
	for _, r := range b.rooms.left {
		if !r.row.Forgotten && (b.listed(r.row) || req.RoomSubscriptions[r.row.RoomID] != nil) {
			maybe = append(maybe, r.row.RoomNID)
		}
	}
	if len(maybe) > 0 {
		if b.forgotten, err = s.store.Forgotten(ctx, user, maybe); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// room is the user's room of that id, or nil when the user has no
// membership of it or forgot it.
func (b *slidingBuild) room(id string) *indexedRoom {
	r := b.rooms.byID.get(id)
	if r == nil || r.row.Forgotten || b.forgotten[r.row.RoomNID] {
		return nil
	}
	return r
}

// listed tells whether a list shows the room: joins, invites (unless
// blocked or from an ignored user) and knocks; kicks and bans until the
// room is forgotten; a room the user left themselves only in the answer
// that tells this connection, which had it, of the leave.
func (b *slidingBuild) listed(row *storage.SlidingRoomRow) bool {
	if row.Forgotten || b.forgotten[row.RoomNID] {
		return false
	}
	switch row.Membership {
	case spec.Join, spec.Knock:
		return true
	case spec.Invite:
		return !b.invitesBlocked && !b.ignored[row.Sender]
	case spec.Leave, spec.Ban:
		if row.Sender != b.user {
			return true
		}
		from := b.req.from
		return from != nil && from.Rooms[row.RoomID] != nil && row.StreamPos > b.req.since.PDU
	}
	return false
}

// info is what a list's filters look at of a room.
func (b *slidingBuild) info(r *indexedRoom) sliding.RoomInfo {
	id := r.row.RoomID
	return sliding.RoomInfo{ID: id, Membership: r.row.Membership, IsDM: b.direct[id], Encrypted: r.encrypted, Type: r.typ,
		Name: r.name, Tags: b.tags[id], InSpaces: b.inSpaces[id]}
}

// list filters and cuts one list, and notes the rooms of its ranges with
// the list's config. The index is in list order: one pass counts the
// rooms the list keeps and picks those of the ranges.
func (b *slidingBuild) list(name string, l *sliding.List) sliding.ListResult {
	end := -1
	for _, r := range l.Ranges {
		end = max(end, r[1])
	}
	var ranked []sliding.Ranked
	count := 0
	for _, r := range b.rooms.sorted {
		if !b.listed(r.row) {
			continue
		}
		if l.Filters != nil {
			info := b.info(r)
			if !l.Filters.Keep(&info) {
				continue
			}
		}
		if count <= end {
			ranked = append(ranked, sliding.Ranked{RoomID: r.row.RoomID, Bump: r.bump})
		}
		count++
	}
	res := sliding.Window(ranked, l.Ranges)
	res.Count = count
	for _, op := range res.Ops {
		for _, id := range op.RoomIDs {
			if !slices.Contains(b.inList[id], name) {
				b.inList[id] = append(b.inList[id], name)
			}
			b.want(id, &l.RoomConfig)
		}
	}
	return res
}

// subscribe adds the subscribed rooms the user has a membership of.
func (b *slidingBuild) subscribe(subs map[string]*sliding.RoomConfig) {
	for id, c := range subs {
		if b.room(id) == nil {
			continue
		}
		b.subbed[id] = true
		b.want(id, c)
	}
}

// want adds a room to the answer, merging its config with what other
// lists or subscriptions ask of it.
func (b *slidingBuild) want(id string, c *sliding.RoomConfig) {
	old, ok := b.config[id]
	if !ok {
		b.wanted = append(b.wanted, id)
		b.config[id] = &sliding.RoomConfig{RequiredState: c.RequiredState, TimelineLimit: c.TimelineLimit}
		return
	}
	old.RequiredState = sliding.Merge(old.RequiredState, c.RequiredState)
	old.TimelineLimit = max(old.TimelineLimit, c.TimelineLimit)
}

// loadFilterData reads what the lists' filters need and neither the
// membership rows nor the index have: tags and space children.
func (s *Server) loadFilterData(ctx context.Context, b *slidingBuild, lists map[string]*sliding.List) error {
	needTags := false
	var spaces []string
	for _, l := range lists {
		needTags = needTags || l.Filters.NeedsTags()
		if l.Filters != nil {
			spaces = append(spaces, l.Filters.Spaces...)
		}
	}
	if needTags {
		items, err := s.accountData.AccountDataSince(ctx, b.user, 0, b.to.AccountData)
		if err != nil {
			return err
		}
		b.tags = map[string]map[string]bool{}
		for _, it := range items {
			if it.Type != "m.tag" || it.RoomID == "" {
				continue
			}
			tags := map[string]bool{}
			gjson.GetBytes(it.Content, "tags").ForEach(func(k, _ gjson.Result) bool {
				tags[k.String()] = true
				return true
			})
			b.tags[it.RoomID] = tags
		}
	}
	if len(spaces) > 0 {
		var spaceNIDs []int64
		for _, id := range spaces {
			if r := b.room(id); r != nil && r.row.Membership == spec.Join {
				spaceNIDs = append(spaceNIDs, r.row.RoomNID)
			}
		}
		rows, err := s.store.CurrentStateOf(ctx, spaceNIDs, storage.StateSelection{Types: []string{"m.space.child"}})
		if err != nil {
			return err
		}
		// A child event with empty content removes the child.
		b.inSpaces = map[string]bool{}
		for _, st := range rows {
			if gjson.GetBytes(st.Client, "content.via").IsArray() {
				b.inSpaces[st.StateKey] = true
			}
		}
	}
	return nil
}
