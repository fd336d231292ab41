package clientapi

import (
	"context"
	"errors"
	"slices"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// Room creators in versions where they have unlimited power (room
// version 12, MSC4289): the auth rules reject a power levels event whose
// users name a creator, which the client can only fix by changing the
// request, so it is a 400 before event auth (decision 0017), like a
// second create event.

// privilegedCreators tells whether the room version gives its creators
// unlimited power.
func privilegedCreators(version string) bool {
	impl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	return err == nil && impl.PrivilegedCreators()
}

// errCreatorListed is the answer to power levels that list a creator.
func errCreatorListed(user string) error {
	return mxhttp.BadJSON("the power levels may not list " + user + ": room creators have unlimited power in this room version")
}

// listedCreator returns a creator the power levels' users name, if any.
func listedCreator(plContent []byte, creators []string) (string, bool) {
	users := gjson.GetBytes(plContent, "users")
	if !users.IsObject() {
		return "", false
	}
	found := ""
	users.ForEach(func(k, _ gjson.Result) bool {
		if slices.Contains(creators, k.String()) {
			found = k.String()
			return false
		}
		return true
	})
	return found, found != ""
}

// checkCreatorsNotListed refuses power levels for a room whose creators
// must not be listed.
func (s *Server) checkCreatorsNotListed(ctx context.Context, roomID string, content []byte) error {
	version, err := s.rooms.RoomVersion(ctx, roomID)
	if err != nil || !privilegedCreators(version) {
		// An unknown room is for SendEvent to answer.
		return nil
	}
	create, err := s.rooms.StateEvent(ctx, roomID, spec.MRoomCreate, "")
	if errors.Is(err, roomserver.ErrEventNotFound) || errors.Is(err, roomserver.ErrRoomNotFound) {
		return nil
	}
	if err != nil {
		return roomError(err)
	}
	creators := []string{gjson.GetBytes(create.Client, "sender").String()}
	for _, c := range gjson.GetBytes(create.Content, "additional_creators").Array() {
		creators = append(creators, c.String())
	}
	if u, ok := listedCreator(content, creators); ok {
		return errCreatorListed(u)
	}
	return nil
}

// checkCreateRoomCreators refuses a createRoom whose power levels (the
// power_level_content_override, an m.room.power_levels in initial_state)
// name the creator or one of the additional_creators the client gave.
// Invitees a trusted_private_chat makes creators are dropped from the
// override's users by the roomserver instead: the client did not name
// them as creators.
func checkCreateRoomCreators(version, creator string, creationContent []byte, powerLevels ...[]byte) error {
	if !privilegedCreators(version) {
		return nil
	}
	creators := []string{creator}
	for _, c := range gjson.GetBytes(creationContent, "additional_creators").Array() {
		creators = append(creators, c.String())
	}
	for _, pl := range powerLevels {
		if u, ok := listedCreator(pl, creators); ok {
			return errCreatorListed(u)
		}
	}
	return nil
}
