package syncapi

import (
	"encoding/json"
	"net/http"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// toDeviceRecipient is one user's part of a /sendToDevice body: message
// contents by device id, "*" meaning every device of the user.
type toDeviceRecipient struct {
	User    spec.UserID
	Devices map[string]json.RawMessage
}

// parseSendToDevice reads PUT /sendToDevice's body. It refuses what the
// spec does not allow (a body that is not a JSON object: M_NOT_JSON; no
// messages object, contents that are not objects: M_BAD_JSON; malformed
// user ids: M_INVALID_PARAM) and more addressed devices than one request
// may reach (M_TOO_LARGE); it does not know which users and devices exist.
func parseSendToDevice(body []byte) ([]toDeviceRecipient, error) {
	var req struct {
		Messages map[string]map[string]json.RawMessage `json:"messages"`
	}
	if err := mxhttp.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if req.Messages == nil {
		return nil, mxhttp.BadJSON("messages is required")
	}
	out := make([]toDeviceRecipient, 0, len(req.Messages))
	addressed := 0
	for userID, byDevice := range req.Messages {
		user, err := spec.NewUserID(userID, true)
		if err != nil {
			return nil, mxhttp.InvalidParam("invalid user id " + userID)
		}
		for _, content := range byDevice {
			// Within a valid object encoding/json hands over a value's
			// bytes without surrounding space, so the first byte says
			// what kind of value it is.
			if len(content) == 0 || content[0] != '{' {
				return nil, mxhttp.BadJSON("message content must be an object")
			}
		}
		if addressed += len(byDevice); addressed > maxToDeviceRecipients {
			return nil, tooManyRecipients()
		}
		if len(byDevice) > 0 {
			out = append(out, toDeviceRecipient{User: *user, Devices: byDevice})
		}
	}
	return out, nil
}

func tooManyRecipients() error {
	return &mxhttp.Error{Status: http.StatusRequestEntityTooLarge, Code: "M_TOO_LARGE", Msg: "Too many recipients in one request"}
}
