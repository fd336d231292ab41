package rpc

import (
	"encoding/json"
	"fmt"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// The Matrix types API calls carry that the generic walk cannot.
func init() {
	RegisterType(func(u spec.UserID) (any, error) {
		if u.String() == "" {
			return nil, nil // the zero value: no user
		}
		return u.String(), nil
	},
		func(raw json.RawMessage) (spec.UserID, error) {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return spec.UserID{}, err
			}
			u, err := spec.NewUserID(s, true)
			if err != nil {
				return spec.UserID{}, err
			}
			return *u, nil
		})
	RegisterType(func(p gomatrixserverlib.PDU) (any, error) {
		if p == nil {
			return nil, nil
		}
		return wirePDU{Version: string(p.Version()), JSON: p.JSON(), Redacted: p.Redacted()}, nil
	}, func(raw json.RawMessage) (gomatrixserverlib.PDU, error) {
		var w wirePDU
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, err
		}
		v, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(w.Version))
		if err != nil {
			return nil, fmt.Errorf("rpc: pdu: %w", err)
		}
		return v.NewEventFromTrustedJSON(w.JSON, w.Redacted)
	})
}

// wirePDU is an event with the room version needed to parse it again; its
// JSON has been checked when it first entered the server.
type wirePDU struct {
	Version  string          `json:"v"`
	JSON     json.RawMessage `json:"j"`
	Redacted bool            `json:"r,omitempty"`
}
