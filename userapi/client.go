package userapi

import (
	"context"
	"encoding/json"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/rpc"
	"github.com/rohrpost/rohrpost/userapi/pushrules"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// Service is the user API's name on the bus.
const Service = "userapi"

// Sentinels are the errors that keep their identity across processes.
var Sentinels = []error{ErrUserInUse, ErrInvalidUsername, ErrBadCredentials, ErrUnknownToken, ErrNotFound,
	ErrDeactivated, ErrInvalidFilter, ErrNotGuest, ErrThreePIDInUse, ErrNotValidated, ErrBadToken,
	pushrules.ErrNotFound, pushrules.ErrInvalid, pushrules.ErrNoAnchor, ErrBadKeys, ErrBadSignature, ErrWrongBackupVersion,
	ErrBackupAlgorithm, ErrDeviceInUse, ErrBadPusher, ErrMissingPusherParam, ErrProfileTooLarge, ErrLocked, ErrTokenExpired, ErrTokenExists, ErrSSORegistrationDisabled,
	ErrExternalIDInUse, ErrInvalidThreePID}

// Serve answers API calls from other processes with api.
func Serve(nc *nats.Conn, api API) (*rpc.Server, error) {
	return rpc.Serve[API](nc, Service, api, Sentinels)
}

// Client is the user API of another process, called over NATS. It keeps
// what every request asks (is this token valid, was this device seen
// lately) in memory, as the server does; see client_cache.go.
type Client struct {
	rpc    *rpc.Client
	tokens tokenCache
	seen   seenDevices
}

var _ API = (*Client)(nil)

// NewClient calls the user API over the bus.
func NewClient(b *bus.Conn) *Client {
	c := &Client{rpc: rpc.NewClient(b.NC, Service, Sentinels), seen: seenDevices{last: map[int64]seen{}}}
	c.followForgottenTokens(b.NC)
	// Revocations broadcast while the connection was down are lost.
	b.OnReconnect(c.tokens.clear)
	return c
}

func (c *Client) UsernameAvailable(ctx context.Context, user spec.UserID) (out bool, err error) {
	err = c.rpc.Call(ctx, "UsernameAvailable", []any{user}, &out)
	return
}

func (c *Client) CreateLoginToken(ctx context.Context, user spec.UserID) (out string, err error) {
	err = c.rpc.Call(ctx, "CreateLoginToken", []any{user}, &out)
	return
}

func (c *Client) CheckPassword(ctx context.Context, user spec.UserID, password string) error {
	return c.rpc.Call(ctx, "CheckPassword", []any{user, password})
}

func (c *Client) Account(ctx context.Context, user spec.UserID) (out *Account, err error) {
	err = c.rpc.Call(ctx, "Account", []any{user}, &out)
	return
}

func (c *Client) Devices(ctx context.Context, user spec.UserID) (out []DeviceInfo, err error) {
	err = c.rpc.Call(ctx, "Devices", []any{user}, &out)
	return
}

func (c *Client) Device(ctx context.Context, user spec.UserID, deviceID string) (out *DeviceInfo, err error) {
	err = c.rpc.Call(ctx, "Device", []any{user, deviceID}, &out)
	return
}

func (c *Client) SetAdmin(ctx context.Context, user spec.UserID, admin bool) error {
	return c.rpc.Call(ctx, "SetAdmin", []any{user, admin})
}

func (c *Client) Reactivate(ctx context.Context, user spec.UserID, password string) error {
	return c.rpc.Call(ctx, "Reactivate", []any{user, password})
}

func (c *Client) CreateDeviceWithoutToken(ctx context.Context, user spec.UserID, deviceID string) error {
	return c.rpc.Call(ctx, "CreateDeviceWithoutToken", []any{user, deviceID})
}

func (c *Client) CreateOpenIDToken(ctx context.Context, user spec.UserID) (out *OpenIDToken, err error) {
	err = c.rpc.Call(ctx, "CreateOpenIDToken", []any{user}, &out)
	return
}

func (c *Client) OpenIDTokenOwner(ctx context.Context, token string) (out spec.UserID, err error) {
	err = c.rpc.Call(ctx, "OpenIDTokenOwner", []any{token}, &out)
	return
}

func (c *Client) Profile(ctx context.Context, user spec.UserID) (out *Profile, err error) {
	err = c.rpc.Call(ctx, "Profile", []any{user}, &out)
	return
}

func (c *Client) SetProfile(ctx context.Context, user spec.UserID, displayName *string, avatarURL *string) (out *Profile, err error) {
	err = c.rpc.Call(ctx, "SetProfile", []any{user, displayName, avatarURL}, &out)
	return
}

func (c *Client) PutAccountData(ctx context.Context, user spec.UserID, roomID string, dataType string, content json.RawMessage) (out int64, err error) {
	err = c.rpc.Call(ctx, "PutAccountData", []any{user, roomID, dataType, content}, &out)
	return
}

func (c *Client) AccountData(ctx context.Context, user spec.UserID, roomID string, dataType string) (out json.RawMessage, err error) {
	err = c.rpc.Call(ctx, "AccountData", []any{user, roomID, dataType}, &out)
	return
}

func (c *Client) AccountDataSince(ctx context.Context, user spec.UserID, from int64, to int64) (out []AccountDataItem, err error) {
	err = c.rpc.Call(ctx, "AccountDataSince", []any{user, from, to}, &out)
	return
}

func (c *Client) AccountDataPosition(ctx context.Context) (out int64, err error) {
	err = c.rpc.Call(ctx, "AccountDataPosition", nil, &out)
	return
}

func (c *Client) PutTag(ctx context.Context, user spec.UserID, roomID string, tag string, content json.RawMessage) (out int64, err error) {
	err = c.rpc.Call(ctx, "PutTag", []any{user, roomID, tag, content}, &out)
	return
}

func (c *Client) DeleteTag(ctx context.Context, user spec.UserID, roomID string, tag string) (out int64, err error) {
	err = c.rpc.Call(ctx, "DeleteTag", []any{user, roomID, tag}, &out)
	return
}

func (c *Client) PutFilter(ctx context.Context, user spec.UserID, filter json.RawMessage) (out string, err error) {
	err = c.rpc.Call(ctx, "PutFilter", []any{user, filter}, &out)
	return
}

func (c *Client) Filter(ctx context.Context, user spec.UserID, filterID string) (out json.RawMessage, err error) {
	err = c.rpc.Call(ctx, "Filter", []any{user, filterID}, &out)
	return
}

func (c *Client) Erase(ctx context.Context, user spec.UserID) error {
	return c.rpc.Call(ctx, "Erase", []any{user})
}

func (c *Client) ErasedUsers(ctx context.Context) (out []string, err error) {
	err = c.rpc.Call(ctx, "ErasedUsers", nil, &out)
	return
}

func (c *Client) RequestValidation(ctx context.Context, req ValidationRequest) (out *Validation, err error) {
	err = c.rpc.Call(ctx, "RequestValidation", []any{req}, &out)
	return
}

func (c *Client) SubmitValidationToken(ctx context.Context, sid, clientSecret, token string) (out string, err error) {
	err = c.rpc.Call(ctx, "SubmitValidationToken", []any{sid, clientSecret, token}, &out)
	return
}

func (c *Client) ValidatedThreePID(ctx context.Context, sid, clientSecret string) (out *ThreePID, err error) {
	err = c.rpc.Call(ctx, "ValidatedThreePID", []any{sid, clientSecret}, &out)
	return
}

func (c *Client) AddThreePID(ctx context.Context, user spec.UserID, sid, clientSecret string) error {
	return c.rpc.Call(ctx, "AddThreePID", []any{user, sid, clientSecret})
}

func (c *Client) DeleteThreePID(ctx context.Context, user spec.UserID, medium, address string) error {
	return c.rpc.Call(ctx, "DeleteThreePID", []any{user, medium, address})
}

func (c *Client) ThreePIDs(ctx context.Context, user spec.UserID) (out []ThreePID, err error) {
	err = c.rpc.Call(ctx, "ThreePIDs", []any{user}, &out)
	return
}

func (c *Client) ThreePIDOwner(ctx context.Context, medium, address string) (out spec.UserID, err error) {
	err = c.rpc.Call(ctx, "ThreePIDOwner", []any{medium, address}, &out)
	return
}

func (c *Client) AccountModeration(ctx context.Context, user spec.UserID) (out *AccountModeration, err error) {
	err = c.rpc.Call(ctx, "AccountModeration", []any{user}, &out)
	return
}

func (c *Client) SetProfileField(ctx context.Context, user spec.UserID, key string, value json.RawMessage) (out *Profile, err error) {
	err = c.rpc.Call(ctx, "SetProfileField", []any{user, key, value}, &out)
	return
}

func (c *Client) SearchProfiles(ctx context.Context, serverName spec.ServerName, term string, limit int) (out []DirectoryEntry, err error) {
	err = c.rpc.Call(ctx, "SearchProfiles", []any{serverName, term, limit}, &out)
	return
}

func (c *Client) PushRules(ctx context.Context, user spec.UserID) (out *pushrules.Ruleset, err error) {
	err = c.rpc.Call(ctx, "PushRules", []any{user}, &out)
	return
}

func (c *Client) UpdatePushRules(ctx context.Context, user spec.UserID, change PushRuleChange) error {
	return c.rpc.Call(ctx, "UpdatePushRules", []any{user, change})
}

func (c *Client) Report(ctx context.Context, r Report) error {
	return c.rpc.Call(ctx, "Report", []any{r})
}

func (c *Client) DeleteEventReport(ctx context.Context, id int64) error {
	return c.rpc.Call(ctx, "DeleteEventReport", []any{id})
}

func (c *Client) DeleteUserReport(ctx context.Context, id int64) error {
	return c.rpc.Call(ctx, "DeleteUserReport", []any{id})
}

func (c *Client) RateOverride(ctx context.Context, user spec.UserID) (out *storage.RateOverride, err error) {
	err = c.rpc.Call(ctx, "RateOverride", []any{user}, &out)
	return
}

func (c *Client) SetRateOverride(ctx context.Context, user spec.UserID, o *storage.RateOverride) error {
	return c.rpc.Call(ctx, "SetRateOverride", []any{user, o})
}

func (c *Client) SetExternalIDs(ctx context.Context, user spec.UserID, ids []storage.ExternalID) error {
	return c.rpc.Call(ctx, "SetExternalIDs", []any{user, ids})
}

func (c *Client) SetThreePIDs(ctx context.Context, user spec.UserID, tps []ThreePID) error {
	return c.rpc.Call(ctx, "SetThreePIDs", []any{user, tps})
}

func (c *Client) SetShadowBanned(ctx context.Context, user spec.UserID, banned bool) error {
	return c.rpc.Call(ctx, "SetShadowBanned", []any{user, banned})
}

func (c *Client) ImpersonationSession(ctx context.Context, user, admin spec.UserID, validUntilMS int64) (out *Session, err error) {
	err = c.rpc.Call(ctx, "ImpersonationSession", []any{user, admin, validUntilMS}, &out)
	return
}

func (c *Client) CreateRegistrationToken(ctx context.Context, t storage.RegistrationToken) error {
	return c.rpc.Call(ctx, "CreateRegistrationToken", []any{t})
}

func (c *Client) UpdateRegistrationToken(ctx context.Context, token string, u storage.RegistrationTokenUpdate) (out *storage.RegistrationToken, err error) {
	err = c.rpc.Call(ctx, "UpdateRegistrationToken", []any{token, u}, &out)
	return
}

func (c *Client) DeleteRegistrationToken(ctx context.Context, token string) error {
	return c.rpc.Call(ctx, "DeleteRegistrationToken", []any{token})
}

func (c *Client) ReserveRegistrationToken(ctx context.Context, token, session string, expires int64) error {
	return c.rpc.Call(ctx, "ReserveRegistrationToken", []any{token, session, expires})
}

func (c *Client) CompleteRegistrationToken(ctx context.Context, session string) error {
	return c.rpc.Call(ctx, "CompleteRegistrationToken", []any{session})
}

func (c *Client) RegistrationTokenValid(ctx context.Context, token string) (out bool, err error) {
	err = c.rpc.Call(ctx, "RegistrationTokenValid", []any{token}, &out)
	return
}

func (c *Client) Reports(ctx context.Context, before int64, limit int) (out []Report, err error) {
	err = c.rpc.Call(ctx, "Reports", []any{before, limit}, &out)
	return
}

func (c *Client) UploadKeys(ctx context.Context, req KeyUploadRequest) (out map[string]int, err error) {
	err = c.rpc.Call(ctx, "UploadKeys", []any{req}, &out)
	return
}

func (c *Client) QueryKeys(ctx context.Context, requester spec.UserID, users map[string][]string) (out *QueryKeysResponse, err error) {
	err = c.rpc.Call(ctx, "QueryKeys", []any{requester, users}, &out)
	return
}

func (c *Client) ClaimKeys(ctx context.Context, claims map[string]map[string]string) (out map[string]map[string]map[string]json.RawMessage, err error) {
	err = c.rpc.Call(ctx, "ClaimKeys", []any{claims}, &out)
	return
}

func (c *Client) OneTimeKeyCounts(ctx context.Context, user spec.UserID, deviceID string) (out map[string]int, err error) {
	err = c.rpc.Call(ctx, "OneTimeKeyCounts", []any{user, deviceID}, &out)
	return
}

func (c *Client) UnusedFallbackKeyTypes(ctx context.Context, user spec.UserID, deviceID string) (out []string, err error) {
	err = c.rpc.Call(ctx, "UnusedFallbackKeyTypes", []any{user, deviceID}, &out)
	return
}

func (c *Client) KeyChanges(ctx context.Context, viewer spec.UserID, from, to int64) (out []string, err error) {
	err = c.rpc.Call(ctx, "KeyChanges", []any{viewer, from, to}, &out)
	return
}

func (c *Client) UploadCrossSigningKeys(ctx context.Context, user spec.UserID, up CrossSigningUpload) error {
	return c.rpc.Call(ctx, "UploadCrossSigningKeys", []any{user, up})
}

func (c *Client) HasMasterKey(ctx context.Context, user spec.UserID) (out bool, err error) {
	err = c.rpc.Call(ctx, "HasMasterKey", []any{user}, &out)
	return
}

func (c *Client) UploadSignatures(ctx context.Context, user spec.UserID, signed map[string]map[string]json.RawMessage) (out map[string]map[string]SignatureFailure, err error) {
	err = c.rpc.Call(ctx, "UploadSignatures", []any{user, signed}, &out)
	return
}

func (c *Client) CreateBackupVersion(ctx context.Context, user spec.UserID, algorithm string, authData json.RawMessage) (out string, err error) {
	err = c.rpc.Call(ctx, "CreateBackupVersion", []any{user, algorithm, authData}, &out)
	return
}

func (c *Client) BackupVersion(ctx context.Context, user spec.UserID, version string) (out *BackupVersionInfo, err error) {
	err = c.rpc.Call(ctx, "BackupVersion", []any{user, version}, &out)
	return
}

func (c *Client) UpdateBackupVersion(ctx context.Context, user spec.UserID, version, algorithm string, authData json.RawMessage) error {
	return c.rpc.Call(ctx, "UpdateBackupVersion", []any{user, version, algorithm, authData})
}

func (c *Client) DeleteBackupVersion(ctx context.Context, user spec.UserID, version string) error {
	return c.rpc.Call(ctx, "DeleteBackupVersion", []any{user, version})
}

func (c *Client) PutBackupKeys(ctx context.Context, user spec.UserID, version string, keys []BackupKey) (count int, etag string, err error) {
	err = c.rpc.Call(ctx, "PutBackupKeys", []any{user, version, keys}, &count, &etag)
	return
}

func (c *Client) BackupKeys(ctx context.Context, user spec.UserID, version, roomID, sessionID string) (out []BackupKey, err error) {
	err = c.rpc.Call(ctx, "BackupKeys", []any{user, version, roomID, sessionID}, &out)
	return
}

func (c *Client) DeleteBackupKeys(ctx context.Context, user spec.UserID, version, roomID, sessionID string) (count int, etag string, err error) {
	err = c.rpc.Call(ctx, "DeleteBackupKeys", []any{user, version, roomID, sessionID}, &count, &etag)
	return
}

func (c *Client) PutDehydratedDevice(ctx context.Context, req DehydratedDeviceRequest) error {
	return c.rpc.Call(ctx, "PutDehydratedDevice", []any{req})
}

func (c *Client) DehydratedDeviceOf(ctx context.Context, user spec.UserID) (out *DehydratedDevice, err error) {
	err = c.rpc.Call(ctx, "DehydratedDeviceOf", []any{user}, &out)
	return
}

func (c *Client) DeleteDehydratedDevice(ctx context.Context, user spec.UserID) (out string, err error) {
	err = c.rpc.Call(ctx, "DeleteDehydratedDevice", []any{user}, &out)
	return
}

func (c *Client) SetPusher(ctx context.Context, dev *Device, req PusherSet) error {
	return c.rpc.Call(ctx, "SetPusher", []any{dev, req})
}

func (c *Client) Pushers(ctx context.Context, user spec.UserID) (out []Pusher, err error) {
	err = c.rpc.Call(ctx, "Pushers", []any{user}, &out)
	return
}

func (c *Client) DeletePushKey(ctx context.Context, appID, pushKey string) error {
	return c.rpc.Call(ctx, "DeletePushKey", []any{appID, pushKey})
}
