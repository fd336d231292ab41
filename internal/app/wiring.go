package app

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
)

// profileHooks makes profile changes update the user's member events, and
// deactivation leave every room.
func profileHooks(rooms roomserver.API) (onProfile func(context.Context, spec.UserID, userapi.Profile), onDeactivate func(context.Context, spec.UserID)) {
	onProfile = func(ctx context.Context, user spec.UserID, p userapi.Profile) {
		joined, err := rooms.JoinedRooms(ctx, user)
		if err != nil {
			slog.Warn("profile change: joined rooms", "user", user.String(), "err", err)
			return
		}
		key := user.String()
		for _, roomID := range joined {
			ev, err := rooms.StateEvent(ctx, roomID, spec.MRoomMember, key)
			if err != nil {
				continue
			}
			var content map[string]any
			if json.Unmarshal(ev.Content, &content) != nil {
				continue
			}
			delete(content, "displayname")
			delete(content, "avatar_url")
			if p.DisplayName != "" {
				content["displayname"] = p.DisplayName
			}
			if p.AvatarURL != "" {
				content["avatar_url"] = p.AvatarURL
			}
			raw, _ := json.Marshal(content)
			if _, err := rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: roomID, Sender: user, Type: spec.MRoomMember, StateKey: &key, Content: raw}); err != nil {
				slog.Warn("profile change: member event", "room_id", roomID, "err", err)
			}
		}
	}
	onDeactivate = func(ctx context.Context, user spec.UserID) {
		joined, err := rooms.JoinedRooms(ctx, user)
		if err != nil {
			slog.Warn("deactivate: joined rooms", "user", user.String(), "err", err)
			return
		}
		key := user.String()
		for _, roomID := range joined {
			if _, err := rooms.SendEvent(ctx, roomserver.SendEventRequest{RoomID: roomID, Sender: user, Type: spec.MRoomMember, StateKey: &key, Content: json.RawMessage(`{"membership":"leave"}`)}); err != nil {
				slog.Warn("deactivate: leave", "room_id", roomID, "err", err)
			}
		}
	}
	return onProfile, onDeactivate
}
