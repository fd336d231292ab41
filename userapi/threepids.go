package userapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// A user proves control of an e-mail address by returning a token the
// server mailed to it. The session (sid) ties the token to the client's
// secret; once validated, the client names the session to register, to
// bind the address, or to reset its password.

// MediumEmail is the only medium rohrpost validates; it sends no SMS.
const MediumEmail = "email"

// validationLifetime is how long a session may be used, validated or not.
const validationLifetime = 24 * time.Hour

// ValidationRequest is a requestToken call.
type ValidationRequest struct {
	ClientSecret string
	Medium       string
	// Address must be canonical (CanonicalEmail).
	Address     string
	SendAttempt int64
	NextLink    string
}

// Validation is the session; Token is set when a mail is to go out.
type Validation struct {
	SID   string
	Token string
}

// ThreePID is an address bound to an account (GET /account/3pid).
type ThreePID struct {
	Medium      string `json:"medium"`
	Address     string `json:"address"`
	AddedAt     int64  `json:"added_at"`
	ValidatedAt int64  `json:"validated_at"`
}

// CanonicalEmail checks an address and returns the form it is stored and
// compared in: lower case, without display name or angle brackets.
func CanonicalEmail(address string) (string, error) {
	if len(address) > 254 {
		return "", errors.New("address too long")
	}
	a, err := mail.ParseAddress(address)
	if err != nil || a.Name != "" || a.Address != strings.TrimSpace(address) {
		return "", errors.New("not an e-mail address")
	}
	return strings.ToLower(a.Address), nil
}

func (s *Server) RequestValidation(ctx context.Context, req ValidationRequest) (*Validation, error) {
	if req.Medium != MediumEmail {
		return nil, fmt.Errorf("medium %q is not supported", req.Medium)
	}
	now := time.Now()
	existing, err := s.store.ThreePIDSessionFor(ctx, req.ClientSecret, req.Medium, req.Address)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if existing != nil && now.Sub(time.UnixMilli(existing.CreatedTS)) < validationLifetime && req.SendAttempt <= existing.SendAttempt {
		// The client repeats a request it made: no second mail.
		return &Validation{SID: existing.SID}, nil
	}
	token, err := randomToken(24)
	if err != nil {
		return nil, err
	}
	sess := storage.ThreePIDSession{ClientSecret: req.ClientSecret, Medium: req.Medium, Address: req.Address,
		SendAttempt: req.SendAttempt, NextLink: req.NextLink, CreatedTS: now.UnixMilli(), TokenHash: hashValidationToken(token)}
	if existing != nil && now.Sub(time.UnixMilli(existing.CreatedTS)) < validationLifetime {
		sess.SID, sess.CreatedTS, sess.ValidatedTS = existing.SID, existing.CreatedTS, existing.ValidatedTS
	} else if sess.SID, err = randomToken(18); err != nil {
		return nil, err
	}
	if err := s.store.PutThreePIDSession(ctx, sess, now.Add(-validationLifetime).UnixMilli()); err != nil {
		return nil, err
	}
	return &Validation{SID: sess.SID, Token: token}, nil
}

func (s *Server) SubmitValidationToken(ctx context.Context, sid, clientSecret, token string) (string, error) {
	sess, err := s.session(ctx, sid, clientSecret)
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare(hashValidationToken(token), sess.TokenHash) != 1 {
		return "", ErrBadToken
	}
	if err := s.store.ValidateThreePIDSession(ctx, sid, time.Now().UnixMilli()); err != nil {
		return "", err
	}
	return sess.NextLink, nil
}

func (s *Server) ValidatedThreePID(ctx context.Context, sid, clientSecret string) (*ThreePID, error) {
	sess, err := s.session(ctx, sid, clientSecret)
	if err != nil {
		return nil, err
	}
	if sess.ValidatedTS == 0 {
		return nil, ErrNotValidated
	}
	return &ThreePID{Medium: sess.Medium, Address: sess.Address, ValidatedAt: sess.ValidatedTS}, nil
}

// session returns a live session whose secret matches; anything else is
// ErrNotValidated, so that a guessed sid tells nothing.
func (s *Server) session(ctx context.Context, sid, clientSecret string) (*storage.ThreePIDSession, error) {
	sess, err := s.store.ThreePIDSession(ctx, sid)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotValidated
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(sess.ClientSecret), []byte(clientSecret)) != 1 ||
		time.Since(time.UnixMilli(sess.CreatedTS)) > validationLifetime {
		return nil, ErrNotValidated
	}
	return sess, nil
}

func (s *Server) AddThreePID(ctx context.Context, user spec.UserID, sid, clientSecret string) error {
	t, err := s.ValidatedThreePID(ctx, sid, clientSecret)
	if err != nil {
		return err
	}
	err = s.store.AddThreePID(ctx, storage.ThreePID{Medium: t.Medium, Address: t.Address, UserID: user.String(),
		AddedTS: time.Now().UnixMilli(), ValidatedTS: t.ValidatedAt})
	if errors.Is(err, storage.ErrExists) {
		return ErrThreePIDInUse
	}
	return err
}

func (s *Server) DeleteThreePID(ctx context.Context, user spec.UserID, medium, address string) error {
	return userError(s.store.DeleteThreePID(ctx, user.String(), medium, address))
}

func (s *Server) ThreePIDs(ctx context.Context, user spec.UserID) ([]ThreePID, error) {
	rows, err := s.store.ThreePIDs(ctx, user.String())
	if err != nil {
		return nil, err
	}
	out := make([]ThreePID, len(rows))
	for i, r := range rows {
		out[i] = ThreePID{Medium: r.Medium, Address: r.Address, AddedAt: r.AddedTS, ValidatedAt: r.ValidatedTS}
	}
	return out, nil
}

func (s *Server) ThreePIDOwner(ctx context.Context, medium, address string) (spec.UserID, error) {
	owner, err := s.store.ThreePIDOwner(ctx, medium, address)
	if err != nil {
		return spec.UserID{}, userError(err)
	}
	u, err := spec.NewUserID(owner, true)
	if err != nil {
		return spec.UserID{}, err
	}
	return *u, nil
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashValidationToken(token string) []byte {
	h := hashToken(token)
	return h[:]
}
