package clientapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Shared-secret registration is Synapse's admin API
// /_synapse/admin/v1/register, which SyTest and operators' scripts use to
// create (admin) users: GET a nonce, then POST the user with an HMAC-SHA1
// over nonce, username, password and admin flag, keyed with
// registration_shared_secret.

const (
	nonceLifetime = 5 * time.Minute
	// maxNonceBytes bounds the storage unauthenticated GETs can claim.
	maxNonceBytes = 8 << 20
)

// registrationNonces are the nonces handed out and not yet used, in a
// NATS key-value bucket that every replica shares. Each works once.
type registrationNonces struct {
	kv jetstream.KeyValue
}

func newRegistrationNonces(ctx context.Context, b *bus.Conn) (*registrationNonces, error) {
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: "REGISTRATION_NONCES",
		TTL:    nonceLifetime,
		// Unauthenticated GETs create nonces: bound them.
		MaxBytes: maxNonceBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("registration nonces: %w", err)
	}
	return &registrationNonces{kv: kv}, nil
}

func (n *registrationNonces) issue(ctx context.Context) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	nonce := hex.EncodeToString(b[:])
	if _, err := n.kv.Create(ctx, nonce, []byte{1}); err != nil {
		if isStoreFull(err) {
			return "", &mxhttp.Error{Status: http.StatusTooManyRequests, Code: "M_LIMIT_EXCEEDED", Msg: "Too many registration nonces outstanding"}
		}
		return "", err
	}
	return nonce, nil
}

// take uses up the nonce and tells whether it was valid: of two requests
// with the same nonce, on any replicas, one wins.
func (n *registrationNonces) take(ctx context.Context, nonce string) (bool, error) {
	if len(nonce) != 32 || strings.Trim(nonce, "0123456789abcdef") != "" {
		return false, nil
	}
	entry, err := n.kv.Get(ctx, nonce)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = n.kv.Purge(ctx, nonce, jetstream.LastRevision(entry.Revision()))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil // someone else took it first
		}
		return false, err
	}
	return true, nil
}

func (s *Server) sharedSecretEnabled() error {
	if s.cfg.RegistrationSharedSecret == "" {
		return mxhttp.Unknown("Shared secret registration is not enabled")
	}
	return nil
}

// adminRegisterNonce is GET /_synapse/admin/v1/register.
func (s *Server) adminRegisterNonce(r *http.Request) (any, error) {
	if err := s.sharedSecretEnabled(); err != nil {
		return nil, err
	}
	nonce, err := s.nonces.issue(r.Context())
	if err != nil {
		return nil, err
	}
	return map[string]string{"nonce": nonce}, nil
}

type adminRegisterRequest struct {
	Nonce       string  `json:"nonce"`
	Username    string  `json:"username"`
	Password    string  `json:"password"`
	Admin       bool    `json:"admin"`
	MAC         string  `json:"mac"`
	DisplayName string  `json:"displayname"`
	UserType    *string `json:"user_type"`
}

// registrationMAC is the hex HMAC-SHA1 the client must send.
func registrationMAC(secret string, req *adminRegisterRequest) string {
	admin := "notadmin"
	if req.Admin {
		admin = "admin"
	}
	parts := []string{req.Nonce, req.Username, req.Password, admin}
	if req.UserType != nil {
		parts = append(parts, *req.UserType)
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(m.Sum(nil))
}

// adminRegister is POST /_synapse/admin/v1/register.
func (s *Server) adminRegister(r *http.Request) (any, error) {
	if err := s.sharedSecretEnabled(); err != nil {
		return nil, err
	}
	var req adminRegisterRequest
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &req); err != nil {
		return nil, err
	}
	for name, v := range map[string]string{"nonce": req.Nonce, "username": req.Username, "password": req.Password, "mac": req.MAC} {
		if v == "" {
			return nil, mxhttp.MissingParam("Missing " + name)
		}
	}
	valid, err := s.nonces.take(r.Context(), req.Nonce)
	if err != nil {
		return nil, err
	}
	if !valid {
		return nil, mxhttp.Unknown("Unrecognised nonce")
	}
	want := registrationMAC(s.cfg.RegistrationSharedSecret, &req)
	if !hmac.Equal([]byte(strings.ToLower(req.MAC)), []byte(want)) {
		return nil, mxhttp.Forbidden("HMAC incorrect")
	}
	if len(req.Password) > maxPasswordLength || strings.ContainsRune(req.Password, 0) {
		return nil, mxhttp.InvalidParam("Invalid password")
	}
	user, err := s.newLocalUser(strings.ToLower(req.Username))
	if err != nil {
		return nil, err
	}
	created, err := s.users.Register(r.Context(), userapi.RegisterRequest{
		User:        *user,
		Password:    req.Password,
		Kind:        userapi.KindUser,
		Admin:       req.Admin,
		DisplayName: req.DisplayName,
	})
	if err != nil {
		return nil, userError(err)
	}
	return newRegisterResponse(created), nil
}
