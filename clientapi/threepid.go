package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/rohrpost/rohrpost/internal/mailer"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// E-mail addresses (third-party ids): the server mails a link with a
// token; following it, or posting the token to submit_url, validates the
// session, which the client then names to register, to add the address
// to its account or to reset its password. Identity servers are not
// involved: binding addresses there (/account/3pid/bind) is not offered.

// submitTokenPath is where the link in the mail points and what
// requestToken gives as submit_url.
const submitTokenPath = "/_rohrpost/client/email/submit_token"

// emailPurpose is which requestToken endpoint was called.
type emailPurpose int

const (
	purposeRegister emailPurpose = iota
	purposeAddAddress
	purposePasswordReset
)

type requestTokenBody struct {
	ClientSecret string `json:"client_secret"`
	Email        string `json:"email"`
	SendAttempt  *int64 `json:"send_attempt"`
	NextLink     string `json:"next_link"`
}

// clientSecretGrammar is the spec's client_secret: [0-9a-zA-Z.=_-]{1,255}.
var clientSecretGrammar = regexp.MustCompile(`^[0-9a-zA-Z.=_-]{1,255}$`)

// requestEmailToken serves the three email/requestToken endpoints.
func (s *Server) requestEmailToken(purpose emailPurpose) mxhttp.Handler {
	return func(r *http.Request) (any, error) {
		var body requestTokenBody
		if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
			return nil, err
		}
		if s.mailer == nil {
			if purpose == purposeAddAddress {
				return nil, mediumNotSupported("e-mail addresses")
			}
			return nil, &mxhttp.Error{Status: http.StatusForbidden, Code: "M_THREEPID_DENIED", Msg: "This server handles no e-mail addresses"}
		}
		if body.ClientSecret == "" || body.Email == "" || body.SendAttempt == nil {
			return nil, mxhttp.MissingParam("client_secret, email and send_attempt are required")
		}
		if !clientSecretGrammar.MatchString(body.ClientSecret) {
			return nil, mxhttp.InvalidParam("client_secret must be 1 to 255 of 0-9 a-z A-Z . = _ -")
		}
		address, err := userapi.CanonicalEmail(body.Email)
		if err != nil {
			return nil, mxhttp.InvalidParam("email is not an e-mail address")
		}
		if body.NextLink != "" {
			if u, err := url.Parse(body.NextLink); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, mxhttp.InvalidParam("next_link must be an http(s) URL")
			}
		}
		ctx := r.Context()
		_, err = s.users.ThreePIDOwner(ctx, userapi.MediumEmail, address)
		bound := err == nil
		if err != nil && !errors.Is(err, userapi.ErrNotFound) {
			return nil, err
		}
		switch {
		case bound && purpose != purposePasswordReset:
			return nil, userError(userapi.ErrThreePIDInUse)
		case !bound && purpose == purposePasswordReset:
			return nil, &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_THREEPID_NOT_FOUND", Msg: "No account has this address"}
		}
		v, err := s.users.RequestValidation(ctx, userapi.ValidationRequest{ClientSecret: body.ClientSecret, Medium: userapi.MediumEmail,
			Address: address, SendAttempt: *body.SendAttempt, NextLink: body.NextLink})
		if err != nil {
			return nil, err
		}
		if v.Token != "" {
			if err := s.mailValidation(ctx, address, v.SID, body.ClientSecret, v.Token, purpose); err != nil {
				slog.Warn("clientapi: validation mail not sent", "err", err)
				return nil, &mxhttp.Error{Status: http.StatusBadGateway, Code: "M_UNKNOWN", Msg: "The mail with the validation link could not be sent"}
			}
		}
		return map[string]string{"sid": v.SID, "submit_url": s.publicURL(submitTokenPath)}, nil
	}
}

func (s *Server) publicURL(path string) string {
	return strings.TrimRight(s.cfg.PublicBaseURL, "/") + path
}

// mailValidation sends the link, in German and English.
func (s *Server) mailValidation(ctx context.Context, address, sid, clientSecret, token string, purpose emailPurpose) error {
	link := s.publicURL(submitTokenPath) + "?" + url.Values{"sid": {sid}, "client_secret": {clientSecret}, "token": {token}}.Encode()
	var de, en string
	switch purpose {
	case purposeRegister:
		de, en = "um Ihr Konto auf "+string(s.cfg.ServerName)+" anzulegen", "to create your account on "+string(s.cfg.ServerName)
	case purposeAddAddress:
		de, en = "um diese Adresse Ihrem Konto auf "+string(s.cfg.ServerName)+" hinzuzufügen", "to add this address to your account on "+string(s.cfg.ServerName)
	case purposePasswordReset:
		de, en = "um Ihr Passwort auf "+string(s.cfg.ServerName)+" zurückzusetzen", "to reset your password on "+string(s.cfg.ServerName)
	}
	body := fmt.Sprintf("Bitte öffnen Sie diesen Link, %s:\nPlease open this link %s:\n\n%s\n\n"+
		"Wenn Sie das nicht angefordert haben, ignorieren Sie diese E-Mail.\nIf you did not ask for this, ignore this mail.\n", de, en, link)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.mailer.Send(ctx, mailer.Message{To: address, Subject: "Bestätigen Sie Ihre E-Mail-Adresse / Confirm your e-mail address", Body: body})
}

// submitTokenForm is POST submit_url: the identity service API's shape.
func (s *Server) submitTokenJSON(r *http.Request) (any, error) {
	var body struct {
		SID          string `json:"sid"`
		ClientSecret string `json:"client_secret"`
		Token        string `json:"token"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if body.SID == "" || body.ClientSecret == "" || body.Token == "" {
		return nil, mxhttp.MissingParam("sid, client_secret and token are required")
	}
	_, err := s.users.SubmitValidationToken(r.Context(), body.SID, body.ClientSecret, body.Token)
	if errors.Is(err, userapi.ErrBadToken) || errors.Is(err, userapi.ErrNotValidated) {
		return map[string]bool{"success": false}, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]bool{"success": true}, nil
}

// submitTokenLink is GET on the link in the mail: a page for a browser,
// or a redirect to the client's next_link.
func (s *Server) submitTokenLink(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	next, err := s.users.SubmitValidationToken(r.Context(), q.Get("sid"), q.Get("client_secret"), q.Get("token"))
	page := func(status int, title, text string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>%s</title><h1>%s</h1><p>%s</p>\n",
			html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
	}
	switch {
	case errors.Is(err, userapi.ErrBadToken), errors.Is(err, userapi.ErrNotValidated):
		page(http.StatusBadRequest, "Link ungültig / Invalid link",
			"Der Link ist ungültig oder abgelaufen. / The link is invalid or has expired.")
	case err != nil:
		slog.Warn("clientapi: submit token", "err", err)
		page(http.StatusInternalServerError, "Fehler / Error", "Bitte versuchen Sie es später erneut. / Please try again later.")
	case next != "":
		http.Redirect(w, r, next, http.StatusFound)
	default:
		page(http.StatusOK, "Adresse bestätigt / Address confirmed",
			"Sie können zu Ihrer App zurückkehren. / You can return to your app.")
	}
}

// threePIDCreds names a validated session.
type threePIDCreds struct {
	SID          string `json:"sid"`
	ClientSecret string `json:"client_secret"`
}

func (c *threePIDCreds) check() error {
	if c == nil || c.SID == "" || c.ClientSecret == "" {
		return mxhttp.MissingParam("sid and client_secret are required")
	}
	return nil
}

// threepids is GET /account/3pid.
func (s *Server) threepids(r *http.Request, dev *userapi.Device) (any, error) {
	list, err := s.users.ThreePIDs(r.Context(), dev.UserID)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []userapi.ThreePID{}
	}
	return map[string]any{"threepids": list}, nil
}

// addThreePID is POST /account/3pid/add, with user-interactive auth.
func (s *Server) addThreePID(r *http.Request, dev *userapi.Device) (any, error) {
	var body struct {
		Auth json.RawMessage `json:"auth"`
		threePIDCreds
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	auth, err := parseAuth(body.Auth)
	if err != nil {
		return nil, err
	}
	if err := body.threePIDCreds.check(); err != nil {
		return nil, err
	}
	op := uiaOp{name: "POST /account/3pid/add", user: &dev.UserID, flows: s.reauthFlows(r.Context(), dev.UserID)}
	if done, challenge, err := s.interactiveAuth(r.Context(), auth, op); !done {
		return challenge, err
	}
	if err := s.users.AddThreePID(r.Context(), dev.UserID, body.SID, body.ClientSecret); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}

// addThreePIDLegacy is the deprecated POST /account/3pid: the same without
// user-interactive auth. Binding at an identity server (bind: true) is
// not offered; the address is added to the account only.
func (s *Server) addThreePIDLegacy(r *http.Request, dev *userapi.Device) (any, error) {
	var body struct {
		Creds *threePIDCreds `json:"three_pid_creds"`
		// threePidCreds is how the field was once spelt.
		OldCreds *threePIDCreds `json:"threePidCreds"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	creds := body.Creds
	if creds == nil {
		creds = body.OldCreds
	}
	if err := creds.check(); err != nil {
		return nil, err
	}
	if err := s.users.AddThreePID(r.Context(), dev.UserID, creds.SID, creds.ClientSecret); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}

// deleteThreePID is POST /account/3pid/delete.
func (s *Server) deleteThreePID(r *http.Request, dev *userapi.Device) (any, error) {
	var body struct {
		Medium  string `json:"medium"`
		Address string `json:"address"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	if body.Medium == "" || body.Address == "" {
		return nil, mxhttp.MissingParam("medium and address are required")
	}
	address := body.Address
	if body.Medium == userapi.MediumEmail {
		if canonical, err := userapi.CanonicalEmail(address); err == nil {
			address = canonical
		}
	}
	err := s.users.DeleteThreePID(r.Context(), dev.UserID, body.Medium, address)
	if err != nil && !errors.Is(err, userapi.ErrNotFound) {
		return nil, err
	}
	// No identity server was told of the address, so none is asked to
	// forget it.
	return map[string]string{"id_server_unbind_result": "no-support"}, nil
}

// mediumNotSupported is how adding an address of a kind the server does
// not handle is refused (the spec's codes since v1.13).
func mediumNotSupported(what string) error {
	return &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_THREEPID_MEDIUM_NOT_SUPPORTED", Msg: "This server cannot add " + what}
}

// addPhoneDenied is POST /account/3pid/msisdn/requestToken: the server
// sends no text messages.
func (s *Server) addPhoneDenied(r *http.Request) (any, error) {
	var body map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	return nil, mediumNotSupported("phone numbers")
}
