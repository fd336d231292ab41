package config

import "time"

// Privacy are Synapse's keys that decide how much users can change about
// themselves and how much the server tells about them. Each works on its
// own; profile: bundesmessenger sets them all (profile.go).
type Privacy struct {
	// EnableSetDisplayName and EnableSetAvatarURL off refuse changes of
	// the display name and avatar (403 M_FORBIDDEN) and say so in
	// /capabilities: the names come from the agency's directory. Server
	// admins may still change them through the admin API.
	EnableSetDisplayName bool `yaml:"enable_set_displayname"`
	EnableSetAvatarURL   bool `yaml:"enable_set_avatar_url"`
	// RequireAuthForProfileRequests refuses GET /profile without an
	// access token.
	RequireAuthForProfileRequests bool `yaml:"require_auth_for_profile_requests"`
	// IncludeProfileDataOnInvite copies the invitee's display name and
	// avatar into the invite event (Synapse's default); off, an invite
	// tells the inviter nothing about the invitee.
	IncludeProfileDataOnInvite bool `yaml:"include_profile_data_on_invite"`
	// ForgetRoomsOnLeave forgets a room for a user as soon as they leave
	// it (or are kicked), as if they had called /forget.
	ForgetRoomsOnLeave bool `yaml:"forget_rooms_on_leave"`
	// URLPreviewEnabled is Synapse's name for url_preview.enabled; when
	// set it wins over url_preview.enabled.
	URLPreviewEnabled *bool `yaml:"url_preview_enabled"`
	// AutoAcceptInvites joins invited local users at once (Synapse's
	// auto-accept-invites module config).
	AutoAcceptInvites AutoAcceptInvites `yaml:"auto_accept_invites"`
	// PasswordConfig holds the password policy.
	PasswordConfig PasswordConfig `yaml:"password_config"`
	// UIAuth is how user-interactive authentication behaves.
	UIAuth UIAuth `yaml:"ui_auth"`
	// MaxAvatarSize refuses (403 M_FORBIDDEN) an avatar_url whose media
	// is larger, or unknown to this server; 0 allows any.
	MaxAvatarSize ByteSize `yaml:"max_avatar_size"`
	// Enable3PIDLookup is Synapse's switch for looking up e-mail
	// addresses and phone numbers at an identity server (third-party
	// invites, binding). rohrpost never asks an identity server
	// (decision 0004), so only false is accepted: true is refused at
	// start rather than silently doing nothing.
	Enable3PIDLookup *bool `yaml:"enable_3pid_lookup"`
}

// AutoAcceptInvites is Synapse's auto_accept_invites block.
type AutoAcceptInvites struct {
	Enabled bool `yaml:"enabled"`
	// OnlyForDirectMessages accepts only invites marked is_direct.
	OnlyForDirectMessages bool `yaml:"only_for_direct_messages"`
	// OnlyFromLocalUsers accepts only invites sent by users of this
	// server.
	OnlyFromLocalUsers bool `yaml:"only_from_local_users"`
}

// PasswordConfig is Synapse's password_config: the policy, and enabled
// (PasswordEnabled, config/oidc.go).
type PasswordConfig struct {
	Enabled PasswordEnabled `yaml:"enabled"`
	Policy  PasswordPolicy  `yaml:"policy"`
}

// PasswordPolicy is what a new password must satisfy, at registration
// and at every change, when enabled. A refused password gets
// M_WEAK_PASSWORD.
type PasswordPolicy struct {
	Enabled          bool `yaml:"enabled"`
	MinimumLength    int  `yaml:"minimum_length"`
	RequireDigit     bool `yaml:"require_digit"`
	RequireSymbol    bool `yaml:"require_symbol"`
	RequireLowercase bool `yaml:"require_lowercase"`
	RequireUppercase bool `yaml:"require_uppercase"`
}

// UIAuth is Synapse's ui_auth block.
type UIAuth struct {
	// SessionTimeout lets one successful authentication of a device
	// cover its further requests for this long, except for the
	// dangerous ones (password change, deactivation, adding an address).
	// 0, the default, asks every time.
	SessionTimeout Duration `yaml:"session_timeout"`
}

// defaultPrivacy are Synapse's defaults.
func defaultPrivacy() Privacy {
	return Privacy{EnableSetDisplayName: true, EnableSetAvatarURL: true, IncludeProfileDataOnInvite: true}
}

// URLPreviewsOn tells whether URL previews are served, whichever of the
// two keys said so.
func (c *Config) URLPreviewsOn() bool {
	if c.URLPreviewEnabled != nil {
		return *c.URLPreviewEnabled
	}
	return c.URLPreview.Enabled
}

func (c *Config) validatePrivacy(bad func(key, format string, args ...any)) {
	p := c.PasswordConfig.Policy
	if p.MinimumLength < 0 || p.MinimumLength > maxPasswordPolicyLength {
		bad("password_config.policy.minimum_length", "%d is not between 0 and %d", p.MinimumLength, maxPasswordPolicyLength)
	}
	// The client API keeps the last authentication with its sessions,
	// which live 30 minutes.
	if c.UIAuth.SessionTimeout < 0 || time.Duration(c.UIAuth.SessionTimeout) > 30*time.Minute {
		bad("ui_auth.session_timeout", "%s is not between 0 and 30m", time.Duration(c.UIAuth.SessionTimeout))
	}
	if c.Enable3PIDLookup != nil && *c.Enable3PIDLookup {
		bad("enable_3pid_lookup", "rohrpost looks up no third-party ids at an identity server; remove the key or set it to false")
	}
	a := c.AutoAcceptInvites
	if !a.Enabled && (a.OnlyForDirectMessages || a.OnlyFromLocalUsers) {
		bad("auto_accept_invites", "only_for_direct_messages and only_from_local_users need enabled: true")
	}
}

// maxPasswordPolicyLength keeps the policy satisfiable: the client API
// refuses passwords longer than 512 bytes.
const maxPasswordPolicyLength = 512
