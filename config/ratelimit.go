package config

import (
	"fmt"
	"strings"
)

// RateLimit is one of Synapse's rc_* settings: a bucket of burst_count
// actions that refills at per_second.
type RateLimit struct {
	PerSecond  float64 `yaml:"per_second"`
	BurstCount float64 `yaml:"burst_count"`
}

// RCLogin is rc_login: per client address, per account logged into, and
// per account for failed attempts.
type RCLogin struct {
	Address        RateLimit `yaml:"address"`
	Account        RateLimit `yaml:"account"`
	FailedAttempts RateLimit `yaml:"failed_attempts"`
}

// RCJoins is rc_joins: joins of rooms this server is in (local) and of
// rooms it must join over federation (remote), per user.
type RCJoins struct {
	Local  RateLimit `yaml:"local"`
	Remote RateLimit `yaml:"remote"`
}

// RCInvites is rc_invites: invites sent into one room, and invites one
// user receives.
type RCInvites struct {
	PerRoom RateLimit `yaml:"per_room"`
	PerUser RateLimit `yaml:"per_user"`
}

// RateLimits are the rc_* settings rohrpost implements, with Synapse's
// keys and defaults. rate_limiting.enabled: false turns all of them off.
// Any other rc_* key is refused at start (Parse), never ignored.
type RateLimits struct {
	// RCMessage: events a user sends (messages, state, redactions).
	RCMessage RateLimit `yaml:"rc_message"`
	// RCRegistration: accounts made per client address.
	RCRegistration RateLimit `yaml:"rc_registration"`
	RCLogin        RCLogin   `yaml:"rc_login"`
	RCJoins        RCJoins   `yaml:"rc_joins"`
	RCInvites      RCInvites `yaml:"rc_invites"`
	// RC3PIDValidation: validation e-mails, per client address and per
	// e-mail address.
	RC3PIDValidation RateLimit `yaml:"rc_3pid_validation"`
	// RCMediaCreate: POST /_matrix/media/v1/create per user.
	RCMediaCreate RateLimit `yaml:"rc_media_create"`
	// RCContentScanner is rohrpost's own: requests to the content scanner
	// API's encrypted endpoints per client address, which bounds how fast
	// anyone can probe the decryption of an encrypted_body.
	RCContentScanner RateLimit `yaml:"rc_content_scanner"`
	// RCRegistrationTokenValidity: checks of registration tokens'
	// validity per client address.
	RCRegistrationTokenValidity RateLimit `yaml:"rc_registration_token_validity"`
	// RCDelayedEventMgmt: listing, cancelling, restarting and sending
	// delayed events (MSC4140), per user. A client in a call restarts its
	// delayed leave every few seconds.
	RCDelayedEventMgmt RateLimit `yaml:"rc_delayed_event_mgmt"`
}

// DefaultRateLimits are Synapse's defaults.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		RCMessage:      RateLimit{0.2, 10},
		RCRegistration: RateLimit{0.17, 3},
		RCLogin: RCLogin{
			Address:        RateLimit{0.003, 5},
			Account:        RateLimit{0.003, 5},
			FailedAttempts: RateLimit{0.17, 3},
		},
		RCJoins:          RCJoins{Local: RateLimit{0.1, 10}, Remote: RateLimit{0.01, 10}},
		RCInvites:        RCInvites{PerRoom: RateLimit{0.3, 10}, PerUser: RateLimit{0.003, 5}},
		RC3PIDValidation: RateLimit{0.003, 5},
		RCMediaCreate:    RateLimit{10, 10},
		RCContentScanner: RateLimit{0.5, 10},

		RCRegistrationTokenValidity: RateLimit{0.1, 5},
		RCDelayedEventMgmt:          RateLimit{1, 5},
	}
}

// Each lists every setting with its key, for validation and for the
// store's age limit.
func (r *RateLimits) Each() map[string]RateLimit {
	return map[string]RateLimit{
		"rc_message":               r.RCMessage,
		"rc_registration":          r.RCRegistration,
		"rc_login.address":         r.RCLogin.Address,
		"rc_login.account":         r.RCLogin.Account,
		"rc_login.failed_attempts": r.RCLogin.FailedAttempts,
		"rc_joins.local":           r.RCJoins.Local,
		"rc_joins.remote":          r.RCJoins.Remote,
		"rc_invites.per_room":      r.RCInvites.PerRoom,
		"rc_invites.per_user":      r.RCInvites.PerUser,
		"rc_3pid_validation":       r.RC3PIDValidation,
		"rc_media_create":          r.RCMediaCreate,
		"rc_content_scanner":       r.RCContentScanner,

		"rc_registration_token_validity": r.RCRegistrationTokenValidity,
		"rc_delayed_event_mgmt":          r.RCDelayedEventMgmt,
	}
}

func (r *RateLimits) validate() []string {
	var errs []string
	for key, l := range r.Each() {
		if l.PerSecond <= 0 {
			errs = append(errs, key+".per_second must be greater than 0")
		}
		if l.BurstCount < 1 {
			errs = append(errs, key+".burst_count must be at least 1")
		}
	}
	return errs
}

// unsupportedRateLimits picks the unknown keys that are rc_* settings:
// Synapse has more of them than rohrpost implements (rc_federation,
// rc_invites.per_issuer, rc_presence…), and one that silently did
// nothing would be a limit the operator believes in but does not have.
func unsupportedRateLimits(unknown []string) (rest []string, err error) {
	var bad []string
	for _, k := range unknown {
		if strings.HasPrefix(k, "rc_") {
			bad = append(bad, k)
		} else {
			rest = append(rest, k)
		}
	}
	if len(bad) > 0 {
		return rest, fmt.Errorf("config: rate limit settings rohrpost does not implement: %s (implemented: rc_message, rc_registration, rc_registration_token_validity, rc_login.{address,account,failed_attempts}, rc_joins.{local,remote}, rc_invites.{per_room,per_user}, rc_3pid_validation, rc_media_create, rc_content_scanner, rc_delayed_event_mgmt)", strings.Join(bad, ", "))
	}
	return rest, nil
}
