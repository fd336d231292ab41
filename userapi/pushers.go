package userapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"unicode/utf8"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// Pushers: a phone's app registers where its push gateway is, and the
// push sender (userapi/push) tells that gateway of each notifying event.

// Limits of the spec and our own.
const (
	maxPushKeyBytes   = 512
	maxAppIDChars     = 64
	maxPusherData     = 4096
	maxPushersPerUser = 100
	// PushGatewayPath is the one path a gateway URL may have.
	PushGatewayPath = "/_matrix/push/v1/notify"
)

// Errors of POST /pushers/set the client can fix; they wrap the reason.
var (
	ErrBadPusher          = errors.New("invalid pusher")
	ErrMissingPusherParam = errors.New("missing pusher parameter")
)

// Pusher is a pusher as GET /pushers lists it.
type Pusher struct {
	PushKey           string          `json:"pushkey"`
	Kind              string          `json:"kind"`
	AppID             string          `json:"app_id"`
	AppDisplayName    string          `json:"app_display_name"`
	DeviceDisplayName string          `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag,omitempty"`
	Lang              string          `json:"lang"`
	Data              json.RawMessage `json:"data"`
}

// PusherSet is POST /pushers/set: Kind nil deletes.
type PusherSet struct {
	Pusher
	Kind   *string `json:"kind"`
	Append bool    `json:"append"`
}

// SetPusher creates, replaces or deletes one of the device's user's
// pushers; a pusher belongs to the login that set it and goes with it.
func (s *Server) SetPusher(ctx context.Context, dev *Device, req PusherSet) error {
	if err := checkPusher(req); err != nil {
		return err
	}
	user := dev.UserID.String()
	if req.Kind == nil {
		return s.store.DeletePusher(ctx, user, req.AppID, req.PushKey)
	}
	err := s.store.PutPusher(ctx, storage.Pusher{UserID: user, SessionID: dev.SessionID, AppID: req.AppID, PushKey: req.PushKey,
		Kind: *req.Kind, AppDisplayName: req.AppDisplayName, DeviceDisplayName: req.DeviceDisplayName, ProfileTag: req.ProfileTag,
		Lang: req.Lang, Data: string(req.Data), CreatedTS: nowMillis()}, req.Append, maxPushersPerUser)
	if errors.Is(err, storage.ErrTooManyPushers) {
		return fmt.Errorf("%w: at most %d pushers per user", ErrBadPusher, maxPushersPerUser)
	}
	return err
}

// checkPusher checks a request against the spec and our limits; a
// deletion (kind null) needs only app_id and pushkey.
func checkPusher(req PusherSet) error {
	if req.AppID == "" || req.PushKey == "" {
		return fmt.Errorf("%w: app_id and pushkey are required", ErrMissingPusherParam)
	}
	if len(req.PushKey) > maxPushKeyBytes || utf8.RuneCountInString(req.AppID) > maxAppIDChars {
		return fmt.Errorf("%w: pushkey is at most %d bytes, app_id at most %d characters", ErrBadPusher, maxPushKeyBytes, maxAppIDChars)
	}
	if req.Kind == nil {
		return nil
	}
	if *req.Kind != "http" {
		return fmt.Errorf("%w: only pushers of kind http are supported", ErrBadPusher)
	}
	if req.AppDisplayName == "" || req.DeviceDisplayName == "" || req.Lang == "" || len(req.Data) == 0 {
		return fmt.Errorf("%w: app_display_name, device_display_name, lang and data are required", ErrMissingPusherParam)
	}
	if len(req.Data) > maxPusherData || !gjson.ValidBytes(req.Data) || !gjson.ParseBytes(req.Data).IsObject() {
		return fmt.Errorf("%w: data must be an object", ErrBadPusher)
	}
	return checkGatewayURL(gjson.GetBytes(req.Data, "url"))
}

// checkGatewayURL accepts an absolute http(s) URL with the notify path
// (http for gateways on the same network; the spec asks clients for https).
func checkGatewayURL(v gjson.Result) error {
	if v.Type != gjson.String {
		return fmt.Errorf("%w: data.url is required for http pushers", ErrMissingPusherParam)
	}
	u, err := url.Parse(v.Str)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: data.url must be an absolute https URL", ErrBadPusher)
	}
	if u.Path != PushGatewayPath {
		return fmt.Errorf("%w: data.url must have the path %s", ErrBadPusher, PushGatewayPath)
	}
	return nil
}

// Pushers lists the user's pushers; never nil.
func (s *Server) Pushers(ctx context.Context, user spec.UserID) ([]Pusher, error) {
	stored, err := s.store.Pushers(ctx, user.String())
	if err != nil {
		return nil, err
	}
	out := make([]Pusher, 0, len(stored))
	for _, p := range stored {
		out = append(out, pusherOf(p))
	}
	return out, nil
}

func pusherOf(p storage.Pusher) Pusher {
	return Pusher{PushKey: p.PushKey, Kind: p.Kind, AppID: p.AppID, AppDisplayName: p.AppDisplayName,
		DeviceDisplayName: p.DeviceDisplayName, ProfileTag: p.ProfileTag, Lang: p.Lang, Data: json.RawMessage(p.Data)}
}

// DeletePushKey deletes the pushers of a push key its gateway rejected.
func (s *Server) DeletePushKey(ctx context.Context, appID, pushKey string) error {
	return s.store.DeletePushKey(ctx, appID, pushKey)
}
