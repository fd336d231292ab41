package userapi

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/userapi/pushrules"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// API is the user component's contract.
type API interface {
	// Accounts
	Register(ctx context.Context, req RegisterRequest) (*Session, error)
	// UpgradeGuest turns the guest account req.User into a full account
	// with req's password and device; ErrNotGuest unless it is a guest.
	UpgradeGuest(ctx context.Context, req RegisterRequest) (*Session, error)
	UsernameAvailable(ctx context.Context, user spec.UserID) (bool, error)
	LoginPassword(ctx context.Context, req LoginRequest) (*Session, error)
	// CreateLoginToken and LoginToken implement m.login.token: single sign-on
	// hands out a short-lived, single-use token the client logs in with.
	CreateLoginToken(ctx context.Context, user spec.UserID) (string, error)
	LoginToken(ctx context.Context, token, deviceID, displayName string, refresh bool) (*Session, error)
	// Single sign-on (sso.go): the account of a user an identity provider
	// vouched for, its links to providers, login tokens that remember the
	// provider session, and the provider's back-channel logout.
	SSOUser(ctx context.Context, req SSOUserRequest) (spec.UserID, error)
	ExternalIDUser(ctx context.Context, authProvider, externalID string) (spec.UserID, error)
	ExternalIDs(ctx context.Context, user spec.UserID) ([]storage.ExternalID, error)
	CreateSSOLoginToken(ctx context.Context, user spec.UserID, origin storage.AuthOrigin) (string, error)
	LogoutSSOSessions(ctx context.Context, authProvider, session, user string) (int, error)
	// Refresh spends a refresh token on new tokens for its device
	// (POST /refresh); ErrUnknownToken if it is unknown or used up.
	Refresh(ctx context.Context, refreshToken string) (*Session, error)
	CheckPassword(ctx context.Context, user spec.UserID, password string) error
	SetPassword(ctx context.Context, user spec.UserID, password string, logoutDevices bool, keepDevice string) error
	Deactivate(ctx context.Context, user spec.UserID) error
	// Erase marks the user's events to be served redacted to those who
	// could not see them before (deactivation with erase: true).
	Erase(ctx context.Context, user spec.UserID) error
	// ErasedUsers lists the erased accounts (almost always none).
	ErasedUsers(ctx context.Context) ([]string, error)
	Account(ctx context.Context, user spec.UserID) (*Account, error)

	// Devices and access tokens
	VerifyAccessToken(ctx context.Context, token string) (*Device, error)
	// DeviceSeen notes that dev made a request from ip with userAgent; it
	// is cheap to call on every request.
	DeviceSeen(ctx context.Context, dev *Device, ip, userAgent string) error
	Logout(ctx context.Context, device *Device) error
	LogoutAll(ctx context.Context, user spec.UserID) error
	Devices(ctx context.Context, user spec.UserID) ([]DeviceInfo, error)
	Device(ctx context.Context, user spec.UserID, deviceID string) (*DeviceInfo, error)
	UpdateDevice(ctx context.Context, user spec.UserID, deviceID string, displayName *string) error
	DeleteDevices(ctx context.Context, user spec.UserID, deviceIDs []string) error

	// OpenID tokens, which prove a user's identity to third parties
	CreateOpenIDToken(ctx context.Context, user spec.UserID) (*OpenIDToken, error)
	OpenIDTokenOwner(ctx context.Context, token string) (spec.UserID, error)

	// Account moderation by server admins. SetAccountModeration changes
	// the flags that are not nil. ErrNotFound for unknown, remote and
	// deactivated accounts.
	AccountModeration(ctx context.Context, user spec.UserID) (*AccountModeration, error)
	SetAccountModeration(ctx context.Context, user spec.UserID, locked, suspended *bool) (*AccountModeration, error)
	// Changes only the admin API makes (admin.go).
	SetAdmin(ctx context.Context, user spec.UserID, admin bool) error
	Reactivate(ctx context.Context, user spec.UserID, password string) error
	CreateDeviceWithoutToken(ctx context.Context, user spec.UserID, deviceID string) error

	// Profiles (local users only)
	Profile(ctx context.Context, user spec.UserID) (*Profile, error)
	// SearchProfiles finds the active accounts of one server name whose
	// user id or display name contains term (case-insensitive), by user
	// id; at most limit.
	SearchProfiles(ctx context.Context, serverName spec.ServerName, term string, limit int) ([]DirectoryEntry, error)
	SetProfile(ctx context.Context, user spec.UserID, displayName, avatarURL *string) (*Profile, error)
	// SetProfileField sets a field other than displayname and avatar_url
	// (m.tz, custom fields) to value, or removes it if value is nil.
	// ErrProfileTooLarge if the profile would exceed 64 KiB.
	SetProfileField(ctx context.Context, user spec.UserID, key string, value json.RawMessage) (*Profile, error)

	// Account data; type "m.tag" per room holds tags.
	PutAccountData(ctx context.Context, user spec.UserID, roomID, dataType string, content json.RawMessage) (int64, error)
	AccountData(ctx context.Context, user spec.UserID, roomID, dataType string) (json.RawMessage, error)
	// AccountDataSince returns what changed in (from, to]; from 0 gives all.
	AccountDataSince(ctx context.Context, user spec.UserID, from, to int64) ([]AccountDataItem, error)
	AccountDataPosition(ctx context.Context) (int64, error)
	// PutTag and DeleteTag change one tag of the room's m.tag account data
	// atomically and return the new stream position.
	PutTag(ctx context.Context, user spec.UserID, roomID, tag string, content json.RawMessage) (int64, error)
	DeleteTag(ctx context.Context, user spec.UserID, roomID, tag string) (int64, error)

	// Third-party ids: e-mail addresses proven by a mailed token
	// (threepids.go). RequestValidation returns the token to mail, or no
	// token when the client repeats a send attempt.
	RequestValidation(ctx context.Context, req ValidationRequest) (*Validation, error)
	SubmitValidationToken(ctx context.Context, sid, clientSecret, token string) (nextLink string, err error)
	// ValidatedThreePID is the address of a validated session; ErrNotValidated
	// otherwise.
	ValidatedThreePID(ctx context.Context, sid, clientSecret string) (*ThreePID, error)
	// AddThreePID binds the address of a validated session to user.
	AddThreePID(ctx context.Context, user spec.UserID, sid, clientSecret string) error
	DeleteThreePID(ctx context.Context, user spec.UserID, medium, address string) error
	ThreePIDs(ctx context.Context, user spec.UserID) ([]ThreePID, error)
	// ThreePIDOwner is the user an address is bound to; ErrNotFound if none.
	ThreePIDOwner(ctx context.Context, medium, address string) (spec.UserID, error)

	// Push rules: the server defaults merged with the user's changes,
	// kept as the account data m.push_rules (pushrules.go).
	PushRules(ctx context.Context, user spec.UserID) (*pushrules.Ruleset, error)
	UpdatePushRules(ctx context.Context, user spec.UserID, change PushRuleChange) error

	// Pushers (pushers.go).
	SetPusher(ctx context.Context, dev *Device, req PusherSet) error
	Pushers(ctx context.Context, user spec.UserID) ([]Pusher, error)
	DeletePushKey(ctx context.Context, appID, pushKey string) error

	// Reports of content to the administrators (reports.go); Reports
	// lists them newest first for the admin API.
	Report(ctx context.Context, r Report) error
	Reports(ctx context.Context, before int64, limit int) ([]Report, error)
	// DeleteEventReport deletes a report of an event (the admin API);
	// ErrNotFound when there is none with the id.
	DeleteEventReport(ctx context.Context, id int64) error
	// DeleteUserReport deletes a report of a user (the admin API);
	// ErrNotFound when there is none with the id.
	DeleteUserReport(ctx context.Context, id int64) error
	// ImpersonationSession logs user in on a new device named after
	// admin (the admin API's POST /v1/users/{userId}/login); its access
	// token expires at validUntilMS (0: never).
	ImpersonationSession(ctx context.Context, user, admin spec.UserID, validUntilMS int64) (*Session, error)
	// RateOverride and SetRateOverride read and change a user's rate
	// limit override (nil: none); ErrNotFound for unknown accounts.
	RateOverride(ctx context.Context, user spec.UserID) (*storage.RateOverride, error)
	SetRateOverride(ctx context.Context, user spec.UserID, o *storage.RateOverride) error
	// SetExternalIDs replaces the user's links to identity providers
	// (the admin API); ErrExternalIDInUse if one is another account's.
	SetExternalIDs(ctx context.Context, user spec.UserID, ids []storage.ExternalID) error
	// SetShadowBanned shadow-bans the user or lifts it; ErrNotFound for
	// unknown accounts.
	SetShadowBanned(ctx context.Context, user spec.UserID, banned bool) error
	// SetThreePIDs replaces the user's bound e-mail addresses (the admin
	// API); ErrThreePIDInUse if one is another account's,
	// ErrInvalidThreePID for what cannot be bound.
	SetThreePIDs(ctx context.Context, user spec.UserID, tps []ThreePID) error

	// Registration tokens (registration_tokens.go): the admin API's
	// changes, and their uses by POST /register. The listings are read
	// from the tables (storage.Reader).
	CreateRegistrationToken(ctx context.Context, t storage.RegistrationToken) error
	UpdateRegistrationToken(ctx context.Context, token string, u storage.RegistrationTokenUpdate) (*storage.RegistrationToken, error)
	DeleteRegistrationToken(ctx context.Context, token string) error
	ReserveRegistrationToken(ctx context.Context, token, session string, expires int64) error
	CompleteRegistrationToken(ctx context.Context, session string) error
	RegistrationTokenValid(ctx context.Context, token string) (bool, error)

	// End-to-end encryption keys (keys.go, crosssigning.go).
	UploadKeys(ctx context.Context, req KeyUploadRequest) (map[string]int, error)
	QueryKeys(ctx context.Context, requester spec.UserID, users map[string][]string) (*QueryKeysResponse, error)
	ClaimKeys(ctx context.Context, claims map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error)
	OneTimeKeyCounts(ctx context.Context, user spec.UserID, deviceID string) (map[string]int, error)
	UnusedFallbackKeyTypes(ctx context.Context, user spec.UserID, deviceID string) ([]string, error)
	KeyChanges(ctx context.Context, viewer spec.UserID, from, to int64) ([]string, error)
	UploadCrossSigningKeys(ctx context.Context, user spec.UserID, up CrossSigningUpload) error
	HasMasterKey(ctx context.Context, user spec.UserID) (bool, error)
	UploadSignatures(ctx context.Context, user spec.UserID, signed map[string]map[string]json.RawMessage) (map[string]map[string]SignatureFailure, error)

	// Device lists across servers (device_lists.go: what other servers
	// hear of local users; remote_devices.go: the cache of remote users').
	PendingDeviceListUpdates(ctx context.Context, limit int) (*DeviceListOutbox, error)
	AckDeviceListUpdates(ctx context.Context, from, to int64) error
	FederationDevices(ctx context.Context, user spec.UserID) (*FederationDeviceList, error)
	RemoteDeviceListHeads(ctx context.Context, users []string) (map[string]RemoteListHead, error)
	StoreRemoteDeviceList(ctx context.Context, l RemoteDeviceList) (bool, error)
	ApplyRemoteDeviceUpdate(ctx context.Context, u RemoteDeviceUpdate) (UpdateOutcome, error)
	ApplyRemoteSigningKeyUpdate(ctx context.Context, user spec.UserID, master, selfSigning json.RawMessage) error
	NoteRemoteDeviceListChange(ctx context.Context, user spec.UserID) error
	ForgetRemoteDeviceList(ctx context.Context, user spec.UserID) error
	RemoteQueryKeys(ctx context.Context, requester spec.UserID, cached map[string][]string, fetched *QueryKeysResponse) (*QueryKeysResponse, error)

	// The dehydrated device (dehydrated.go, MSC3814).
	PutDehydratedDevice(ctx context.Context, req DehydratedDeviceRequest) error
	DehydratedDeviceOf(ctx context.Context, user spec.UserID) (*DehydratedDevice, error)
	DeleteDehydratedDevice(ctx context.Context, user spec.UserID) (string, error)

	// Server-side key backup (keybackup.go); version "" is the newest.
	CreateBackupVersion(ctx context.Context, user spec.UserID, algorithm string, authData json.RawMessage) (string, error)
	BackupVersion(ctx context.Context, user spec.UserID, version string) (*BackupVersionInfo, error)
	UpdateBackupVersion(ctx context.Context, user spec.UserID, version, algorithm string, authData json.RawMessage) error
	DeleteBackupVersion(ctx context.Context, user spec.UserID, version string) error
	PutBackupKeys(ctx context.Context, user spec.UserID, version string, keys []BackupKey) (int, string, error)
	BackupKeys(ctx context.Context, user spec.UserID, version, roomID, sessionID string) ([]BackupKey, error)
	DeleteBackupKeys(ctx context.Context, user spec.UserID, version, roomID, sessionID string) (int, string, error)

	// Filters
	PutFilter(ctx context.Context, user spec.UserID, filter json.RawMessage) (string, error)
	Filter(ctx context.Context, user spec.UserID, filterID string) (json.RawMessage, error)
}

// Sentinel errors; the HTTP layer maps them to Matrix errcodes.
var (
	ErrUserInUse       = errors.New("user id already taken")
	ErrInvalidUsername = errors.New("invalid username")
	ErrBadCredentials  = errors.New("invalid username or password")
	ErrUnknownToken    = errors.New("unknown access token")
	// ErrTokenExpired is an access token past its lifetime: the client
	// refreshes it (a soft logout).
	ErrTokenExpired    = errors.New("access token expired")
	ErrNotFound        = errors.New("not found")
	ErrDeactivated     = errors.New("account deactivated")
	ErrInvalidFilter   = errors.New("filter is not a JSON object")
	ErrNotGuest        = errors.New("not a guest account")
	ErrThreePIDInUse   = errors.New("third-party id already in use")
	ErrNotValidated    = errors.New("third-party id not validated")
	ErrBadToken        = errors.New("wrong validation token")
	ErrProfileTooLarge = errors.New("profile larger than 64 KiB")
	ErrLocked          = errors.New("account locked")
	// ErrTokenExists is a registration token that exists already.
	ErrTokenExists = errors.New("registration token already exists")
)

// AccountKind distinguishes full accounts from guests.
type AccountKind int

const (
	KindUser AccountKind = iota
	KindGuest
)

type RegisterRequest struct {
	User spec.UserID
	// Password may be empty (no password login then).
	Password string
	Kind     AccountKind
	Admin    bool
	// NoDevice registers without logging in (inhibit_login).
	NoDevice          bool
	DeviceID          string
	DeviceDisplayName string
	DisplayName       string
	// RefreshToken asks for a refresh token and an expiring access token.
	RefreshToken bool
}

type LoginRequest struct {
	User              spec.UserID
	Password          string
	DeviceID          string
	DeviceDisplayName string
	// RefreshToken asks for a refresh token and an expiring access token.
	RefreshToken bool
}

// Session is a logged-in device with its new access token.
type Session struct {
	UserID      spec.UserID
	DeviceID    string
	AccessToken string
	// RefreshToken is set when the client asked for one; the access
	// token then expires after ExpiresInMs.
	RefreshToken string `json:",omitempty"`
	ExpiresInMs  int64  `json:",omitempty"`
}

// Device is who made a request: the result of checking an access token.
type Device struct {
	UserID      spec.UserID
	ID          string
	DisplayName string
	IsGuest     bool
	IsAdmin     bool
	// Locked accounts may only log out; suspended ones only read and
	// tidy up (see AccountModeration).
	Locked    bool
	Suspended bool
	// SessionID is the device's row id; it changes when a device id is
	// reused (a login that names it), not when its tokens are refreshed.
	SessionID int64
	// ExpiresTS is when the access token expires (Unix ms), 0 for never.
	ExpiresTS int64 `json:",omitempty"`
	// RateOverride replaces the per-user rate limits for this user (the
	// admin API's override_ratelimit); nil: the configured ones.
	RateOverride *storage.RateOverride `json:",omitempty"`
	// ShadowBanned: an admin shadow-banned the user; their sends are
	// answered as if they succeeded and reach nobody.
	ShadowBanned bool `json:",omitempty"`
}

// Expired tells whether the access token the device was found by has
// expired.
func (d *Device) Expired(now time.Time) bool {
	return d.ExpiresTS != 0 && now.UnixMilli() >= d.ExpiresTS
}

// AccountModeration is whether an account is locked and whether it is
// suspended.
type AccountModeration struct {
	Locked    bool
	Suspended bool
}

// DeviceInfo is what GET /devices shows.
type DeviceInfo struct {
	DeviceID    string  `json:"device_id"`
	DisplayName *string `json:"display_name,omitempty"`
	LastSeenIP  *string `json:"last_seen_ip,omitempty"`
	LastSeenTS  *int64  `json:"last_seen_ts,omitempty"`
	// LastSeenUserAgent is for admins (whois), not for GET /devices.
	LastSeenUserAgent string `json:"-"`
}

type Account struct {
	UserID      spec.UserID
	IsGuest     bool
	IsAdmin     bool
	Deactivated bool
	HasPassword bool
}

// Report is a report of an event, a room or a user; ID and ReceivedTS are
// the server's.
type Report struct {
	ID         int64
	Reporter   spec.UserID
	RoomID     string
	EventID    string
	UserID     string
	Reason     string
	ReceivedTS int64
}

// DirectoryEntry is a user found by SearchProfiles.
type DirectoryEntry struct {
	UserID      string
	DisplayName string
	AvatarURL   string
}

type Profile struct {
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
	// Fields are the other fields (m.tz, custom ones) as the user set
	// them.
	Fields map[string]json.RawMessage `json:"-"`
}

// AccountDataItem is one changed entry; RoomID is empty for global data.
type AccountDataItem struct {
	RoomID   string
	Type     string
	Content  json.RawMessage
	Position int64
}
