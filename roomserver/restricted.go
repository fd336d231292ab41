package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Querier answers gomatrixserverlib's questions about rooms (their current
// state, memberships and who could authorise a restricted join) from any
// implementation of the API, in process or over the bus. Both our own
// users' joins and other servers' make_join ask the same questions.
type Querier struct{ Rooms API }

// CurrentStateEvent is the room's current state event of that type and
// key, or nil when there is none.
func (q Querier) CurrentStateEvent(ctx context.Context, roomID spec.RoomID, evType, stateKey string) (gomatrixserverlib.PDU, error) {
	ev, err := q.Rooms.StateEvent(ctx, roomID.String(), evType, stateKey)
	if err != nil {
		if notFound(err) {
			return nil, nil
		}
		return nil, err
	}
	var head struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(ev.Client, &head); err != nil {
		return nil, err
	}
	pdus, err := q.Rooms.EventsByID(ctx, roomID.String(), []string{head.EventID})
	if err != nil || len(pdus) == 0 {
		return nil, err
	}
	return pdus[0], nil
}

// InvitePending tells whether the user holds an invite to the room.
func (q Querier) InvitePending(ctx context.Context, roomID spec.RoomID, senderID spec.SenderID) (bool, error) {
	m, err := q.CurrentMembership(ctx, roomID, senderID)
	return m == spec.Invite, err
}

// CurrentMembership is the user's membership, leave when the room has
// none for them.
func (q Querier) CurrentMembership(ctx context.Context, roomID spec.RoomID, senderID spec.SenderID) (string, error) {
	user, err := spec.NewUserID(string(senderID), true)
	if err != nil {
		return "", err
	}
	m, err := q.Rooms.Membership(ctx, roomID.String(), *user)
	if notFound(err) {
		return spec.Leave, nil
	}
	return m, err
}

// RestrictedRoomJoinInfo tells how a room named in a restricted room's
// allow list stands for the joining user, with the members on local who
// could authorise the join.
func (q Querier) RestrictedRoomJoinInfo(ctx context.Context, roomID spec.RoomID, senderID spec.SenderID, local spec.ServerName) (*gomatrixserverlib.RestrictedRoomJoinInfo, error) {
	members, err := q.Rooms.JoinedMembers(ctx, roomID.String())
	if notFound(err) {
		return &gomatrixserverlib.RestrictedRoomJoinInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	info := &gomatrixserverlib.RestrictedRoomJoinInfo{}
	_, info.UserJoinedToRoom = members[string(senderID)]
	var locals []string
	for user := range members {
		if u, err := spec.NewUserID(user, true); err == nil && u.Domain() == local {
			locals = append(locals, user)
		}
	}
	slices.Sort(locals)
	info.LocalServerInRoom = len(locals) > 0
	for _, user := range locals {
		ev, err := q.CurrentStateEvent(ctx, roomID, spec.MRoomMember, user)
		if err == nil && ev != nil {
			info.JoinedUsers = append(info.JoinedUsers, ev)
		}
	}
	return info, nil
}

// JoinAuthoriser is the member of the user's own server who authorises
// their join to a restricted room (join_authorised_via_users_server), or
// "" when the join needs none: the room is not restricted, or the user is
// already invited or joined. The authoriser must be joined to the room
// with the power to invite, and on the joining user's server, because
// only that server signs the event. A user in none of the allowed rooms
// gets a spec.MatrixError: M_FORBIDDEN, or M_UNABLE_TO_AUTHORISE_JOIN when
// this server is in none of them and so cannot tell.
//
// gomatrixserverlib's CheckRestrictedJoin picks the authoriser among the
// members of the allowed room, who need not be in the restricted room at
// all; the event auth rules then refuse the join. Hence our own choice.
func (q Querier) JoinAuthoriser(ctx context.Context, roomID spec.RoomID, user spec.UserID) (string, error) {
	sender := spec.SenderID(user.String())
	switch m, err := q.CurrentMembership(ctx, roomID, sender); {
	case err != nil:
		return "", err
	case m == spec.Join || m == spec.Invite:
		return "", nil
	}
	version, err := q.Rooms.RoomVersion(ctx, roomID.String())
	if err != nil {
		return "", err
	}
	impl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	if err != nil || impl.CheckRestrictedJoinsAllowed() != nil {
		return "", err
	}
	rulesEvent, err := q.CurrentStateEvent(ctx, roomID, spec.MRoomJoinRules, "")
	if err != nil || rulesEvent == nil {
		return "", err
	}
	var rules gomatrixserverlib.JoinRuleContent
	if err := json.Unmarshal(rulesEvent.Content(), &rules); err != nil {
		return "", nil // the auth rules refuse the join
	}
	if rules.JoinRule != spec.Restricted && rules.JoinRule != spec.KnockRestricted {
		return "", nil
	}
	admitted, known := false, false
	for _, rule := range rules.Allow {
		allowed, err := spec.NewRoomID(rule.RoomID)
		if rule.Type != spec.MRoomMembership || err != nil {
			continue
		}
		info, err := q.RestrictedRoomJoinInfo(ctx, *allowed, sender, user.Domain())
		if err != nil {
			return "", err
		}
		known = known || info.LocalServerInRoom
		admitted = admitted || (info.LocalServerInRoom && info.UserJoinedToRoom)
	}
	switch {
	case !admitted && !known:
		return "", spec.UnableToAuthoriseJoin("This server is in none of the rooms that admit members here")
	case !admitted:
		return "", spec.Forbidden("You are not a member of any room that admits members here")
	}
	return q.inviter(ctx, impl, roomID, user.Domain())
}

// inviter is a joined member of the room on server who may invite,
// preferring the most powerful so that the choice stays stable.
func (q Querier) inviter(ctx context.Context, impl gomatrixserverlib.IRoomVersion, roomID spec.RoomID, server spec.ServerName) (string, error) {
	plEvent, err := q.CurrentStateEvent(ctx, roomID, spec.MRoomPowerLevels, "")
	if err != nil {
		return "", err
	}
	var creators []string
	if impl.PrivilegedCreators() {
		create, err := q.CurrentStateEvent(ctx, roomID, spec.MRoomCreate, "")
		if err != nil || create == nil {
			return "", err
		}
		creators = gomatrixserverlib.CreatorsFromCreateEvent(create)
	}
	levels := gomatrixserverlib.PowerLevelContent{}
	if plEvent != nil {
		pl, err := plEvent.PowerLevels()
		if err != nil {
			return "", err
		}
		levels = *pl
	}
	info, err := q.RestrictedRoomJoinInfo(ctx, roomID, "", server)
	if err != nil {
		return "", err
	}
	best, bestLevel := "", int64(0)
	for _, member := range info.JoinedUsers {
		candidate := *member.StateKey()
		if slices.Contains(creators, candidate) {
			return candidate, nil
		}
		level := levels.UserLevel(spec.SenderID(candidate))
		if level >= levels.Invite && (best == "" || level > bestLevel) {
			best, bestLevel = candidate, level
		}
	}
	if best == "" {
		return "", spec.UnableToAuthoriseJoin("Nobody in the room on this server may let you in")
	}
	return best, nil
}

func notFound(err error) bool {
	return errors.Is(err, ErrRoomNotFound) || errors.Is(err, ErrEventNotFound)
}
