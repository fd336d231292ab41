package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// upgradeRoom is POST /rooms/{roomId}/upgrade.
func (s *Server) upgradeRoom(r *http.Request, dev *userapi.Device) (any, error) {
	roomID := mux.Vars(r)["roomId"]
	if err := validRoomID(roomID); err != nil {
		return nil, err
	}
	var body struct {
		NewVersion         string   `json:"new_version"`
		AdditionalCreators []string `json:"additional_creators"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if body.NewVersion == "" {
		return nil, mxhttp.BadJSON("new_version is required")
	}
	creators := make([]spec.UserID, 0, len(body.AdditionalCreators))
	for _, raw := range body.AdditionalCreators {
		u, err := spec.NewUserID(raw, true)
		if err != nil {
			return nil, mxhttp.InvalidParam("additional_creators: " + raw + " is not a user ID")
		}
		creators = append(creators, *u)
	}
	// The upgrade, one step in the roomserver, and the account data that
	// follows it complete even if the client hangs up (decision 0019).
	ctx := context.WithoutCancel(r.Context())
	newID, err := s.rooms.UpgradeRoom(ctx, roomID, dev.UserID, body.NewVersion, creators)
	if err != nil {
		return nil, roomError(err)
	}
	if err := s.carryAccountData(ctx, dev.UserID, roomID, newID); err != nil {
		return nil, err
	}
	return map[string]string{"replacement_room": newID}, nil
}

// carryAccountData keeps the upgrading user's direct-chat marking, tags
// and push rules for the room on the replacement room.
func (s *Server) carryAccountData(ctx context.Context, user spec.UserID, oldID, newID string) error {
	if raw, err := s.users.AccountData(ctx, user, "", "m.direct"); err == nil {
		var direct map[string][]string
		if json.Unmarshal(raw, &direct) == nil {
			changed := false
			for peer, rooms := range direct {
				if slices.Contains(rooms, oldID) && !slices.Contains(rooms, newID) {
					direct[peer] = append(rooms, newID)
					changed = true
				}
			}
			if changed {
				content, _ := json.Marshal(direct)
				if _, err := s.users.PutAccountData(ctx, user, "", "m.direct", content); err != nil {
					return err
				}
			}
		}
	}
	if raw, err := s.users.AccountData(ctx, user, oldID, "m.tag"); err == nil && len(raw) > 0 {
		if _, err := s.users.PutAccountData(ctx, user, newID, "m.tag", raw); err != nil {
			return err
		}
	}
	// The user's notification settings for the room (the spec's
	// "notifications" among the settings an upgrade carries over); read
	// first, so that a user without any has no account data written.
	if rs, err := s.users.PushRules(ctx, user); err == nil && rs.HasRoomRules(oldID, newID) {
		change := userapi.PushRuleChange{CopyRoom: &userapi.RoomRulesCopy{From: oldID, To: newID}}
		if err := s.users.UpdatePushRules(ctx, user, change); err != nil {
			return err
		}
	}
	return nil
}
