package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
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
		NewVersion string `json:"new_version"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if body.NewVersion == "" {
		return nil, mxhttp.BadJSON("new_version is required")
	}
	newID, err := s.rooms.UpgradeRoom(r.Context(), roomID, dev.UserID, body.NewVersion)
	if err != nil {
		return nil, roomError(err)
	}
	return map[string]string{"replacement_room": newID}, nil
}
