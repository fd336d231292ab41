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
	// rooms are the rooms a list may show, by id; all also has the rooms
	// lists do not show (left ones), for subscriptions.
	rooms map[string]*slidingRoomInfo
	all   map[string]*storage.SlidingRoomRow
	// wanted are the rooms of the answer in the order they were chosen.
	wanted []string
	config map[string]*sliding.RoomConfig
	inList map[string][]string
	subbed map[string]bool

	ignored        map[string]bool
	invitesBlocked bool
	pushRules      *pushrules.Ruleset
	direct         map[string]bool
	// metaLoaded, tagsLoaded say whether the filters' data was read.
	metaLoaded, tagsLoaded bool
}

type slidingRoomInfo struct {
	row  *storage.SlidingRoomRow
	info sliding.RoomInfo
	bump int64
}

func (s *Server) newSlidingBuild(ctx context.Context, req *slidingRequest, to Token) (*slidingBuild, error) {
	user := req.device.UserID.String()
	b := &slidingBuild{req: req, user: user, to: to, rooms: map[string]*slidingRoomInfo{}, all: map[string]*storage.SlidingRoomRow{},
		config: map[string]*sliding.RoomConfig{}, inList: map[string][]string{}, subbed: map[string]bool{}, direct: map[string]bool{}}
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
	rows, err := s.store.SlidingRooms(ctx, user, bumpTypes, to.PDU)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		row := &rows[i]
		if row.StreamPos > to.PDU || row.Forgotten {
			continue
		}
		b.all[row.RoomID] = row
		if !b.listed(row) {
			continue
		}
		bump := row.StreamPos
		if row.Membership == spec.Join && row.Bump > 0 {
			bump = row.Bump
		}
		b.rooms[row.RoomID] = &slidingRoomInfo{row: row, bump: max(bump, 0),
			info: sliding.RoomInfo{ID: row.RoomID, Membership: row.Membership, IsDM: b.direct[row.RoomID]}}
	}
	return b, nil
}

// listed tells whether a list shows the room: joins, invites (unless
// blocked or from an ignored user) and knocks; kicks and bans until the
// room is forgotten; a room the user left themselves only in the answer
// that tells this connection, which had it, of the leave.
func (b *slidingBuild) listed(row *storage.SlidingRoomRow) bool {
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

// list filters, sorts and cuts one list, and notes the rooms of its
// ranges with the list's config.
func (b *slidingBuild) list(name string, l *sliding.List) sliding.ListResult {
	ranked := make([]sliding.Ranked, 0, len(b.rooms))
	for id, r := range b.rooms {
		if l.Filters.Keep(&r.info) {
			ranked = append(ranked, sliding.Ranked{RoomID: id, Bump: r.bump})
		}
	}
	sliding.Sort(ranked)
	res := sliding.Window(ranked, l.Ranges)
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
		if _, ok := b.all[id]; !ok {
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

// loadFilterData reads what the lists' filters need and is not in the
// membership rows: room type, encryption and name; tags; space children.
func (s *Server) loadFilterData(ctx context.Context, b *slidingBuild, lists map[string]*sliding.List) error {
	needMeta, needTags := false, false
	var spaces []string
	for _, l := range lists {
		needMeta = needMeta || l.Filters.NeedsRoomState()
		needTags = needTags || l.Filters.NeedsTags()
		if l.Filters != nil {
			spaces = append(spaces, l.Filters.Spaces...)
		}
	}
	byNID := make(map[int64]*slidingRoomInfo, len(b.rooms))
	nids := make([]int64, 0, len(b.rooms))
	for _, r := range b.rooms {
		byNID[r.row.RoomNID] = r
		nids = append(nids, r.row.RoomNID)
	}
	if needMeta {
		rows, err := s.store.CurrentStateOf(ctx, nids, storage.StateSelection{Pairs: [][2]string{
			{spec.MRoomCreate, ""}, {"m.room.encryption", ""}, {spec.MRoomName, ""}}})
		if err != nil {
			return err
		}
		for _, st := range rows {
			r := byNID[st.RoomNID]
			switch st.Type {
			case spec.MRoomCreate:
				if t := gjson.GetBytes(st.Client, "content.type"); t.Type == gjson.String {
					v := t.String()
					r.info.Type = &v
				}
			case "m.room.encryption":
				r.info.Encrypted = true
			case spec.MRoomName:
				r.info.Name = gjson.GetBytes(st.Client, "content.name").String()
			}
		}
	}
	if needTags {
		items, err := s.accountData.AccountDataSince(ctx, b.user, 0, b.to.AccountData)
		if err != nil {
			return err
		}
		for _, it := range items {
			r := b.rooms[it.RoomID]
			if it.Type != "m.tag" || r == nil {
				continue
			}
			r.info.Tags = map[string]bool{}
			gjson.GetBytes(it.Content, "tags").ForEach(func(k, _ gjson.Result) bool {
				r.info.Tags[k.String()] = true
				return true
			})
		}
	}
	if len(spaces) > 0 {
		var spaceNIDs []int64
		for _, id := range spaces {
			if row := b.all[id]; row != nil && row.Membership == spec.Join {
				spaceNIDs = append(spaceNIDs, row.RoomNID)
			}
		}
		rows, err := s.store.CurrentStateOf(ctx, spaceNIDs, storage.StateSelection{Types: []string{"m.space.child"}})
		if err != nil {
			return err
		}
		// A child event with empty content removes the child.
		for _, st := range rows {
			if r := b.rooms[st.StateKey]; r != nil && gjson.GetBytes(st.Client, "content.via").IsArray() {
				r.info.InSpaces = true
			}
		}
	}
	return nil
}
