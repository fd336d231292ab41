package adminapi

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	usstorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// Registration tokens (Synapse's /v1/registration_tokens). The tokens
// are the userapi's tables: listed through its read-only view, changed
// through the user API. POST /register uses them (clientapi/register.go).

// tokenChars are the characters Synapse allows in a token (the spec's
// opaque identifier grammar).
const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-"

const maxTokenLength = 64

func validToken(t string) bool {
	if t == "" || len(t) > maxTokenLength {
		return false
	}
	for _, c := range []byte(t) {
		if !bytes.ContainsRune([]byte(tokenChars), rune(c)) {
			return false
		}
	}
	return true
}

func tokenJSON(t usstorage.RegistrationToken) map[string]any {
	return map[string]any{"token": t.Token, "uses_allowed": t.UsesAllowed, "pending": t.Pending,
		"completed": t.Completed, "expiry_time": t.ExpiryTime}
}

// listRegistrationTokens is GET /v1/registration_tokens; valid=true
// keeps the tokens that can still be used, valid=false the others.
func (s *Server) listRegistrationTokens(r *http.Request, _ *userapi.Device) (any, error) {
	valid, err := optBoolParam(r, "valid")
	if err != nil {
		return nil, err
	}
	tokens, err := s.userStore.RegistrationTokens(r.Context(), valid, time.Now().UnixMilli())
	if err != nil {
		return nil, err
	}
	list := make([]map[string]any, 0, len(tokens))
	for _, t := range tokens {
		list = append(list, tokenJSON(t))
	}
	return map[string]any{"registration_tokens": list}, nil
}

func tokenNotFound(token string) error {
	return mxhttp.NotFound("No such registration token: " + token)
}

// getRegistrationToken is GET /v1/registration_tokens/{token}.
func (s *Server) getRegistrationToken(r *http.Request, _ *userapi.Device) (any, error) {
	token := mux.Vars(r)["token"]
	t, err := s.userStore.RegistrationToken(r.Context(), token, time.Now().UnixMilli())
	if errors.Is(err, usstorage.ErrNotFound) {
		return nil, tokenNotFound(token)
	} else if err != nil {
		return nil, err
	}
	return tokenJSON(*t), nil
}

// optionalInt reads a field that is absent (set false), null (nil) or
// an integer of at least min; anything else is 400 M_INVALID_PARAM.
func optionalInt(fields map[string]json.RawMessage, name string, min int64) (set bool, v *int64, err error) {
	raw, ok := fields[name]
	if !ok {
		return false, nil, nil
	}
	if string(raw) == "null" {
		return true, nil, nil
	}
	var n int64
	if json.Unmarshal(raw, &n) != nil || n < min {
		return true, nil, mxhttp.InvalidParam(name + " must be an integer of at least " + big.NewInt(min).String() + ", or null")
	}
	return true, &n, nil
}

// tokenLimits reads uses_allowed and expiry_time.
func tokenLimits(fields map[string]json.RawMessage) (usstorage.RegistrationTokenUpdate, error) {
	var u usstorage.RegistrationTokenUpdate
	set, n, err := optionalInt(fields, "uses_allowed", 0)
	if err != nil {
		return u, err
	}
	if n != nil && *n > 1<<31-1 {
		return u, mxhttp.InvalidParam("uses_allowed is too large")
	}
	u.SetUses = set
	if n != nil {
		i := int(*n)
		u.UsesAllowed = &i
	}
	// An expiry in the past makes no token.
	if u.SetExpiry, u.ExpiryTime, err = optionalInt(fields, "expiry_time", time.Now().UnixMilli()); err != nil {
		return u, mxhttp.InvalidParam("expiry_time must be a time in the future (milliseconds since the epoch), or null")
	}
	return u, nil
}

// newRegistrationToken is POST /v1/registration_tokens/new: token (or
// a random one of length characters, 16 by default), uses_allowed and
// expiry_time.
func (s *Server) newRegistrationToken(r *http.Request, _ *userapi.Device) (any, error) {
	var fields map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &fields); err != nil {
		return nil, err
	}
	limits, err := tokenLimits(fields)
	if err != nil {
		return nil, err
	}
	t := usstorage.RegistrationToken{UsesAllowed: limits.UsesAllowed, ExpiryTime: limits.ExpiryTime}
	noteAudit(r, "uses_allowed", t.UsesAllowed)
	noteAudit(r, "expiry_time", t.ExpiryTime)
	if raw, ok := fields["token"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &t.Token) != nil || !validToken(t.Token) {
			return nil, mxhttp.InvalidParam("token must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '~' and '-'")
		}
		setAuditTarget(r, t.Token)
		if err := s.users.CreateRegistrationToken(r.Context(), t); errors.Is(err, userapi.ErrTokenExists) {
			return nil, mxhttp.InvalidParam("Token already exists")
		} else if err != nil {
			return nil, err
		}
		return tokenJSON(t), nil
	}
	length := 16
	if raw, ok := fields["length"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &length) != nil || length < 1 || length > maxTokenLength {
			return nil, mxhttp.InvalidParam("length must be an integer from 1 to 64")
		}
	}
	for range 5 {
		t.Token, err = randomToken(length)
		if err != nil {
			return nil, err
		}
		err = s.users.CreateRegistrationToken(r.Context(), t)
		if !errors.Is(err, userapi.ErrTokenExists) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	setAuditTarget(r, t.Token)
	return tokenJSON(t), nil
}

func randomToken(length int) (string, error) {
	out := make([]byte, length)
	for i := range out {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(tokenChars))))
		if err != nil {
			return "", err
		}
		out[i] = tokenChars[n.Int64()]
	}
	return string(out), nil
}

// putRegistrationToken is PUT /v1/registration_tokens/{token}: changes
// uses_allowed and expiry_time (null: no limit), keeps what is absent.
func (s *Server) putRegistrationToken(r *http.Request, _ *userapi.Device) (any, error) {
	token := mux.Vars(r)["token"]
	var fields map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &fields); err != nil {
		return nil, err
	}
	u, err := tokenLimits(fields)
	if err != nil {
		return nil, err
	}
	if u.SetUses {
		noteAudit(r, "uses_allowed", u.UsesAllowed)
	}
	if u.SetExpiry {
		noteAudit(r, "expiry_time", u.ExpiryTime)
	}
	t, err := s.users.UpdateRegistrationToken(r.Context(), token, u)
	if errors.Is(err, userapi.ErrNotFound) {
		return nil, tokenNotFound(token)
	} else if err != nil {
		return nil, err
	}
	return tokenJSON(*t), nil
}

// deleteRegistrationToken is DELETE /v1/registration_tokens/{token}.
func (s *Server) deleteRegistrationToken(r *http.Request, _ *userapi.Device) (any, error) {
	token := mux.Vars(r)["token"]
	if err := s.users.DeleteRegistrationToken(r.Context(), token); errors.Is(err, userapi.ErrNotFound) {
		return nil, tokenNotFound(token)
	} else if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
