package clientapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// An OIDC login in progress is kept on the server, not in the browser:
// the state sent to the provider is the key of a record holding the
// nonce, the PKCE verifier, where the client wants to go back to and, for
// user-interactive auth, its session. The record lives in the bucket of
// authentication sessions (uia.go), so any replica can take the callback,
// under keys ("oidc.<state>") that no UIA session id can name. A callback
// takes the record exactly once; the browser that started the login must
// also bring the cookie set with the redirect, so that a state lured into
// another browser logs nobody in there (login CSRF).

const (
	// oidcSessionLifetime is how long a user has at the provider's login
	// form.
	oidcSessionLifetime = 15 * time.Minute
	// oidcCookie is Synapse's name for its cookie of the same role.
	oidcCookie     = "oidc_session"
	oidcCookiePath = "/_synapse/client/oidc"
	oidcKeyPrefix  = "oidc."
)

var (
	errOIDCUnknownState  = errors.New("unknown, expired or used state")
	errOIDCCookieMissing = errors.New("the session cookie does not match")
)

// oidcSession is one login in progress.
type oidcSession struct {
	IDP      string `json:"idp"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	// Callback is the redirect_uri the provider was given; the exchange
	// must name it again.
	Callback string `json:"callback"`
	// ClientRedirect is the client's redirectUrl (login), UIASession the
	// session that m.login.sso completes (user-interactive auth).
	ClientRedirect string    `json:"client_redirect,omitempty"`
	UIASession     string    `json:"uia_session,omitempty"`
	CookieHash     []byte    `json:"cookie_hash"`
	Created        time.Time `json:"created"`
}

func randomToken() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// startOIDCSession stores sess and returns its state and the cookie that
// binds it to the browser.
func (s *Server) startOIDCSession(ctx context.Context, sess *oidcSession) (state, cookie string, err error) {
	if state, err = randomToken(); err != nil {
		return "", "", err
	}
	if cookie, err = randomToken(); err != nil {
		return "", "", err
	}
	sum := sha256.Sum256([]byte(cookie))
	sess.CookieHash, sess.Created = sum[:], time.Now()
	data, err := json.Marshal(sess)
	if err != nil {
		return "", "", err
	}
	if _, err := s.uia.kv.Create(ctx, oidcKeyPrefix+state, data); err != nil {
		if isStoreFull(err) {
			return "", "", &mxhttp.Error{Status: http.StatusTooManyRequests, Code: "M_LIMIT_EXCEEDED", Msg: "Too many logins in progress"}
		}
		return "", "", err
	}
	return state, cookie, nil
}

// takeOIDCSession returns the login of state and removes it, if the
// browser's cookie belongs to it. Of two callbacks with the same state,
// on any replicas, at most one gets it.
func (s *Server) takeOIDCSession(ctx context.Context, state, cookie string) (*oidcSession, error) {
	if !validSessionID(state) {
		return nil, errOIDCUnknownState
	}
	key := oidcKeyPrefix + state
	entry, err := s.uia.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, errOIDCUnknownState
	}
	if err != nil {
		return nil, err
	}
	var sess oidcSession
	if err := json.Unmarshal(entry.Value(), &sess); err != nil || time.Since(sess.Created) > oidcSessionLifetime {
		return nil, errOIDCUnknownState
	}
	sum := sha256.Sum256([]byte(cookie))
	if cookie == "" || subtle.ConstantTimeCompare(sum[:], sess.CookieHash) != 1 {
		return nil, errOIDCCookieMissing
	}
	if err := s.uia.kv.Purge(ctx, key, jetstream.LastRevision(entry.Revision())); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrKeyExists) {
			return nil, errOIDCUnknownState // another callback took it first
		}
		return nil, err
	}
	return &sess, nil
}

// setOIDCCookie binds the login to the browser. Lax: the provider's
// redirect back is a top-level navigation, which carries it.
func (s *Server) setOIDCCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: oidcCookie, Value: value, Path: oidcCookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: strings.HasPrefix(s.cfg.PublicBaseURL, "https:"), SameSite: http.SameSiteLaxMode,
	})
}
