package clientapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

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
	// maxNonces bounds the memory unauthenticated GETs can claim.
	maxNonces = 10000
)

// registrationNonces are the nonces handed out and not yet used. Each
// works once.
type registrationNonces struct {
	mu     sync.Mutex
	issued map[string]time.Time
}

func newRegistrationNonces() *registrationNonces {
	return &registrationNonces{issued: map[string]time.Time{}}
}

func (n *registrationNonces) issue(now time.Time) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	nonce := hex.EncodeToString(b[:])
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.issued) >= maxNonces {
		for k, t := range n.issued {
			if now.Sub(t) > nonceLifetime {
				delete(n.issued, k)
			}
		}
		if len(n.issued) >= maxNonces {
			return "", &mxhttp.Error{Status: http.StatusTooManyRequests, Code: "M_LIMIT_EXCEEDED", Msg: "Too many registration nonces outstanding"}
		}
	}
	n.issued[nonce] = now
	return nonce, nil
}

// take uses up the nonce and tells whether it was valid.
func (n *registrationNonces) take(nonce string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.issued[nonce]
	delete(n.issued, nonce)
	return ok && now.Sub(t) <= nonceLifetime
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
	nonce, err := s.nonces.issue(time.Now())
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
	if !s.nonces.take(req.Nonce, time.Now()) {
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
