package clientapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Stages of user-interactive auth that the server can check.
const (
	stageDummy     = "m.login.dummy"
	stagePassword  = "m.login.password"
	stageRecaptcha = "m.login.recaptcha"
	stageEmail     = "m.login.email.identity"
	// stageRegistrationToken is only offered by POST /register.
	stageRegistrationToken = "m.login.registration_token"
)

const (
	// uiaLifetime is how long a client has to finish a flow.
	uiaLifetime = 30 * time.Minute
	// maxUIABytes bounds the storage that unauthenticated requests
	// (POST /register) can claim.
	maxUIABytes = 64 << 20
)

// uiaOp is one operation that needs user-interactive auth.
type uiaOp struct {
	// name is what a session authorises, e.g. "DELETE /devices/ABC". A
	// session started for one operation cannot complete another.
	name string
	// user must authenticate; nil when nobody is logged in (registration).
	user  *spec.UserID
	flows [][]string
	// params are the stages' parameters shown in the 401 (public keys).
	params map[string]any
	// reuseDevice is the device whose recent authentication may cover
	// this operation (ui_auth.session_timeout, uia_reuse.go); empty for
	// the dangerous operations, which always ask.
	reuseDevice string
}

func (op uiaOp) offers(stage string) bool {
	for _, f := range op.flows {
		if slices.Contains(f, stage) {
			return true
		}
	}
	return false
}

// uiaSessions are the sessions in progress. They live in a NATS key-value
// bucket, not in memory, so that a client may continue a session on any
// replica of the client API; the bucket's age limit expires them.
type uiaSessions struct {
	kv jetstream.KeyValue
}

// uiaSession is one client's progress.
type uiaSession struct {
	ID        string    `json:"id"`
	Op        string    `json:"op"`
	User      string    `json:"user,omitempty"`
	Created   time.Time `json:"created"`
	Completed []string  `json:"completed,omitempty"`
	// Params is the request body (without auth) the registration was
	// started with, so that later rounds may send only auth.
	Params json.RawMessage `json:"params,omitempty"`
	// Result is the response of the finished operation, returned again
	// when a client retries with the same session.
	Result json.RawMessage `json:"result,omitempty"`
	// Email is the session of the validated address that completed
	// m.login.email.identity.
	Email *threePIDCreds `json:"email,omitempty"`

	rev uint64
}

func newUIASessions(ctx context.Context, b *bus.Conn) (*uiaSessions, error) {
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: "UIA_SESSIONS",
		TTL:    uiaLifetime,
		// Unauthenticated POST /register creates sessions: bound them.
		MaxBytes: maxUIABytes,
	})
	if err != nil {
		return nil, fmt.Errorf("uia sessions: %w", err)
	}
	return &uiaSessions{kv: kv}, nil
}

// session returns the session with this id, or a new one when id is "".
func (u *uiaSessions) session(ctx context.Context, id string, op uiaOp) (*uiaSession, error) {
	user := ""
	if op.user != nil {
		user = op.user.String()
	}
	if id == "" {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		sess := &uiaSession{ID: base64.RawURLEncoding.EncodeToString(b[:]), Op: op.name, User: user, Created: time.Now()}
		data, _ := json.Marshal(sess)
		rev, err := u.kv.Create(ctx, sess.ID, data)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, errors.New("uia: session id collision")
		}
		if err != nil {
			if isStoreFull(err) {
				return nil, &mxhttp.Error{Status: http.StatusTooManyRequests, Code: "M_LIMIT_EXCEEDED", Msg: "Too many authentication sessions in progress"}
			}
			return nil, err
		}
		sess.rev = rev
		return sess, nil
	}
	sess, err := u.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if sess.Op != op.name || sess.User != user {
		return nil, mxhttp.Forbidden("Requested operation has changed during the UI authentication session.")
	}
	return sess, nil
}

func (u *uiaSessions) load(ctx context.Context, id string) (*uiaSession, error) {
	if !validSessionID(id) {
		return nil, mxhttp.Unknown("Unknown session ID")
	}
	entry, err := u.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, mxhttp.Unknown("Unknown session ID")
	}
	if err != nil {
		return nil, err
	}
	var sess uiaSession
	if err := json.Unmarshal(entry.Value(), &sess); err != nil || time.Since(sess.Created) > uiaLifetime {
		return nil, mxhttp.Unknown("Unknown session ID")
	}
	sess.rev = entry.Revision()
	return &sess, nil
}

// update applies change to the stored session; when another request
// changed it meanwhile, change is applied again to the newer version.
func (u *uiaSessions) update(ctx context.Context, sess *uiaSession, change func(*uiaSession)) error {
	for range 10 {
		change(sess)
		data, _ := json.Marshal(sess)
		rev, err := u.kv.Update(ctx, sess.ID, data, sess.rev)
		if err == nil {
			sess.rev = rev
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
		fresh, err := u.load(ctx, sess.ID)
		if err != nil {
			return err
		}
		*sess = *fresh
	}
	return errors.New("uia: session changed too often")
}

// complete records a finished stage and tells whether a flow is now done.
func (u *uiaSessions) complete(ctx context.Context, sess *uiaSession, stage string, flows [][]string) (done bool, completed []string, err error) {
	if stage != "" && !slices.Contains(sess.Completed, stage) {
		err = u.update(ctx, sess, func(s *uiaSession) {
			if !slices.Contains(s.Completed, stage) {
				s.Completed = append(s.Completed, stage)
			}
		})
		if err != nil {
			return false, nil, err
		}
	}
	completed = slices.Clone(sess.Completed)
	for _, f := range flows {
		all := true
		for _, st := range f {
			if !slices.Contains(completed, st) {
				all = false
				break
			}
		}
		if all {
			return true, completed, nil
		}
	}
	return false, completed, nil
}

func (u *uiaSessions) setResult(ctx context.Context, sess *uiaSession, result any) error {
	data, err := json.Marshal(result)
	if err != nil {
		return err
	}
	return u.update(ctx, sess, func(s *uiaSession) { s.Result = data })
}

// params returns the remembered request body if body is empty, and
// otherwise remembers body.
func (u *uiaSessions) params(ctx context.Context, sess *uiaSession, body json.RawMessage) (json.RawMessage, error) {
	if body == nil {
		return sess.Params, nil
	}
	return body, u.update(ctx, sess, func(s *uiaSession) { s.Params = body })
}

// validSessionID keeps client input to the characters session ids are
// made of, which are also what key-value keys allow.
func validSessionID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isStoreFull tells whether the bus refused a write for lack of space.
func isStoreFull(err error) bool {
	var apiErr *jetstream.APIError
	// 10077 is JetStream's "store failed", which a full bucket gives.
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == 10077 || strings.Contains(apiErr.Description, "maximum bytes"))
}

// authDict is the "auth" object of a request.
type authDict struct {
	Type     string `json:"type"`
	Session  string `json:"session"`
	Password string `json:"password"`
	// Identifier, or the older User, names who authenticates.
	Identifier *userIdentifier `json:"identifier"`
	User       string          `json:"user"`
	// Response is the m.login.recaptcha answer.
	Response string `json:"response"`
	// Token is the m.login.registration_token's token.
	Token string `json:"token"`
	// ThreePIDCreds names the validated session of m.login.email.identity;
	// OldThreePIDCreds is its older spelling.
	ThreePIDCreds    *threePIDCreds `json:"threepid_creds"`
	OldThreePIDCreds *threePIDCreds `json:"threepidCreds"`
}

func (a authDict) threePIDCreds() *threePIDCreds {
	if a.ThreePIDCreds != nil {
		return a.ThreePIDCreds
	}
	return a.OldThreePIDCreds
}

// parseAuth reads the auth object; absent or null gives the zero value.
func parseAuth(raw json.RawMessage) (authDict, error) {
	var auth authDict
	if len(raw) == 0 || string(raw) == "null" {
		return auth, nil
	}
	// The body was JSON already; an auth of the wrong shape is bad JSON.
	if err := json.Unmarshal(raw, &auth); err != nil {
		return auth, mxhttp.BadJSON("auth must be an object with string fields")
	}
	return auth, nil
}

// interactiveAuth runs one round of user-interactive auth for op with
// a new or continued session. It returns done when a flow is complete;
// otherwise what to answer: a 401 challenge as the body, or an error.
func (s *Server) interactiveAuth(ctx context.Context, auth authDict, op uiaOp) (done bool, challenge any, err error) {
	if auth.Session == "" && s.authenticatedRecently(ctx, op) {
		return true, nil, nil
	}
	sess, err := s.uia.session(ctx, auth.Session, op)
	if err != nil {
		return false, nil, err
	}
	done, challenge, err = s.continueAuth(ctx, sess, auth, op)
	if done {
		s.noteAuthenticated(ctx, op)
	}
	return done, challenge, err
}

// continueAuth is interactiveAuth for a session the caller already has.
func (s *Server) continueAuth(ctx context.Context, sess *uiaSession, auth authDict, op uiaOp) (bool, any, error) {
	var (
		failure *mxhttp.Error
		stage   string
		err     error
	)
	switch {
	case auth.Type == "":
		// No stage attempted: report progress, or finish a flow that
		// was completed out of band.
	case !op.offers(auth.Type):
		failure = &mxhttp.Error{Code: "M_UNRECOGNIZED", Msg: "Authentication stage " + auth.Type + " is not offered here"}
	case auth.Type == stageRegistrationToken:
		if failure, err = s.reserveRegistrationToken(ctx, sess, auth.Token); err != nil {
			return false, nil, err
		}
		if failure == nil {
			stage = auth.Type
		}
	default:
		if failure, err = s.checkStage(ctx, auth, op); err != nil {
			return false, nil, err
		}
		if failure == nil {
			stage = auth.Type
		}
		if failure == nil && stage == stageEmail {
			creds := auth.threePIDCreds()
			if err := s.uia.update(ctx, sess, func(x *uiaSession) { x.Email = creds }); err != nil {
				return false, nil, err
			}
		}
	}
	done, completed, err := s.uia.complete(ctx, sess, stage, op.flows)
	if err != nil {
		return false, nil, err
	}
	if done {
		return true, nil, nil
	}
	return false, uiaChallenge(sess.ID, op, completed, failure), nil
}

// checkStage verifies one stage. A wrong credential is a failure the
// client may retry (it goes into the 401); an error ends the request.
func (s *Server) checkStage(ctx context.Context, auth authDict, op uiaOp) (*mxhttp.Error, error) {
	switch auth.Type {
	case stageDummy:
		return nil, nil
	case stageRecaptcha:
		return s.checkRecaptcha(ctx, auth.Response)
	case stageEmail:
		creds := auth.threePIDCreds()
		if err := creds.check(); err != nil {
			return nil, err
		}
		t, err := s.users.ValidatedThreePID(ctx, creds.SID, creds.ClientSecret)
		if errors.Is(err, userapi.ErrNotValidated) {
			return &mxhttp.Error{Code: "M_THREEPID_AUTH_FAILED", Msg: "The address has not been validated yet"}, nil
		}
		if err != nil {
			return nil, err
		}
		// An operation on an account accepts only that account's address.
		if op.user != nil {
			owner, err := s.users.ThreePIDOwner(ctx, t.Medium, t.Address)
			if err != nil || owner != *op.user {
				return &mxhttp.Error{Code: "M_THREEPID_AUTH_FAILED", Msg: "The address does not belong to this account"}, nil
			}
		}
		return nil, nil
	case stageSSO:
		// Completed by the login's callback (sso_uia.go), never here.
		return &mxhttp.Error{Code: "M_FORBIDDEN", Msg: "Confirm through single sign-on first: open " + ssoFallbackPath + "?session=" + url.QueryEscape(auth.Session)}, nil
	case stagePassword:
		if op.user == nil {
			return nil, mxhttp.Forbidden("Password authentication needs a logged-in user")
		}
		user, err := s.identifiedUser(ctx, auth.Identifier, auth.User)
		if err != nil {
			return nil, err
		}
		if user != *op.user {
			return nil, mxhttp.Forbidden("The authenticated user does not own this session")
		}
		err = s.users.CheckPassword(ctx, user, auth.Password)
		switch {
		case err == nil:
			return nil, nil
		case errors.Is(err, userapi.ErrBadCredentials), errors.Is(err, userapi.ErrDeactivated):
			return mxhttp.Forbidden("Invalid password"), nil
		default:
			return nil, err
		}
	}
	return &mxhttp.Error{Code: "M_UNRECOGNIZED", Msg: "Unknown authentication stage " + auth.Type}, nil
}

type uiaFlow struct {
	Stages []string `json:"stages"`
}

// uiaChallenge is the 401 body: flows, params and session, completed once
// there is progress or a failure, and errcode/error for a failed stage.
func uiaChallenge(session string, op uiaOp, completed []string, failure *mxhttp.Error) mxhttp.Response {
	flows := make([]uiaFlow, len(op.flows))
	for i, f := range op.flows {
		flows[i] = uiaFlow{Stages: f}
	}
	params := op.params
	if params == nil {
		params = map[string]any{}
	}
	body := map[string]any{
		"flows":   flows,
		"params":  params,
		"session": session,
	}
	if len(completed) > 0 || failure != nil {
		if completed == nil {
			completed = []string{}
		}
		body["completed"] = completed
	}
	if failure != nil {
		body["errcode"] = failure.Code
		body["error"] = failure.Msg
	}
	return mxhttp.Response{Status: http.StatusUnauthorized, Body: body}
}

// checkRecaptcha asks the configured siteverify endpoint whether the
// captcha response is valid.
func (s *Server) checkRecaptcha(ctx context.Context, response string) (*mxhttp.Error, error) {
	if response == "" {
		return &mxhttp.Error{Code: "M_CAPTCHA_INVALID", Msg: "Missing captcha response"}, nil
	}
	form := url.Values{"secret": {s.cfg.Recaptcha.PrivateKey}, "response": {response}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Recaptcha.SiteverifyAPI, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client, err := s.outboundClient()
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, mxhttp.Unknown("The captcha service could not be reached")
	}
	defer resp.Body.Close()
	var verdict struct {
		Success bool `json:"success"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&verdict); err != nil || !verdict.Success {
		return &mxhttp.Error{Code: "M_CAPTCHA_INVALID", Msg: "Captcha was not accepted"}, nil
	}
	return nil, nil
}
