package federationapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/matrix-org/util"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// MaxRequestBody bounds the body of a signed request. The largest is a
// /send transaction: 50 PDUs of at most 64 KiB and 100 EDUs.
const MaxRequestBody = 8 << 20

// Verifier authenticates requests of other servers (X-Matrix) and applies
// the federation policy. Answers, each logged with origin, path and reason:
//
//   - 401 M_UNAUTHORIZED: no X-Matrix header, a malformed one, a
//     destination that is not one of our server names, a bad signature, a
//     key we cannot get. All mean "this request is not authenticated for
//     this server", as Synapse answers them;
//   - 403 M_FORBIDDEN: the origin is not allowed by the policy;
//   - 400 M_NOT_JSON: a body that is not JSON (or not application/json);
//   - 413 M_TOO_LARGE: a body over MaxRequestBody.
//
// The policy is checked on the claimed origin before the signature, so a
// refused server never makes us fetch its keys. gomatrixserverlib's
// VerifyHTTPRequest does the verifying; we check the header and body
// first because its answers carry no errcode and one status for several
// causes.
type Verifier struct {
	isLocal     func(spec.ServerName) bool
	defaultName spec.ServerName
	keys        gomatrixserverlib.JSONVerifier
	policy      *Policy
}

// NewVerifier builds a verifier. defaultName is the destination assumed
// when a request names none (servers before spec v1.3).
func NewVerifier(isLocal func(spec.ServerName) bool, defaultName spec.ServerName, keys gomatrixserverlib.JSONVerifier, policy *Policy) *Verifier {
	return &Verifier{isLocal: isLocal, defaultName: defaultName, keys: keys, policy: policy}
}

// Handler serves h for authenticated, allowed requests. content is the
// request body, which h must use instead of r.Body.
func (v *Verifier) Handler(h func(r *http.Request, origin spec.ServerName, content []byte) (any, error)) http.Handler {
	return mxhttp.Handler(func(r *http.Request) (any, error) {
		origin, content, err := v.verify(r)
		if err != nil {
			return nil, err
		}
		return h(r, origin, content)
	})
}

func (v *Verifier) verify(r *http.Request) (spec.ServerName, []byte, error) {
	claimed, err := v.claimedOrigin(r)
	if err != nil {
		return "", nil, v.refuse(r, claimed, err)
	}
	if !v.policy.Allowed(claimed) {
		return "", nil, v.refuse(r, claimed, mxhttp.Forbidden("Federation with this server is not allowed"))
	}
	content, err := readJSONBody(r)
	if err != nil {
		return "", nil, v.refuse(r, claimed, err)
	}
	// VerifyHTTPRequest reads the body again; give it the bytes we have.
	signed := r.Clone(r.Context())
	signed.Body = io.NopCloser(bytes.NewReader(content))
	req, resp := fclient.VerifyHTTPRequest(signed, time.Now(), v.defaultName, v.isLocal, v.keys)
	if req != nil {
		return req.Origin(), content, nil
	}
	if resp.Code >= 500 {
		// Our side failed (the key database, or the peer hung up while we
		// looked up keys); not the peer's fault, and mxhttp logs it.
		if err := r.Context().Err(); err != nil {
			return "", nil, err
		}
		return "", nil, fmt.Errorf("verify request from %s: %s", claimed, messageOf(resp))
	}
	return "", nil, v.refuse(r, claimed, mxhttp.Unauthorized(messageOf(resp)))
}

// claimedOrigin reads the X-Matrix headers: at least one, all from one
// origin, each with a key and signature, each naming one of our server
// names as destination (when it names one).
func (v *Verifier) claimedOrigin(r *http.Request) (spec.ServerName, error) {
	var origin spec.ServerName
	for _, h := range r.Header.Values("Authorization") {
		scheme, o, dest, key, sig := fclient.ParseAuthorization(h)
		if scheme != "X-Matrix" {
			continue
		}
		if o == "" || key == "" || sig == "" {
			return o, mxhttp.Unauthorized("Malformed X-Matrix authorization header")
		}
		if origin != "" && o != origin {
			return origin, mxhttp.Unauthorized("X-Matrix headers name different origins")
		}
		origin = o
		if dest != "" && !v.isLocal(dest) {
			return origin, mxhttp.Unauthorized(fmt.Sprintf("Request is for %q, not for this server", dest))
		}
	}
	if origin == "" {
		return "", mxhttp.Unauthorized("Missing X-Matrix authorization header")
	}
	if _, _, ok := spec.ParseAndValidateServerName(origin); !ok {
		// Not an authentication failure but a malformed request (a
		// non-numeric port, say): 400, as other servers answer it.
		return origin, &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_UNAUTHORIZED", Msg: "Origin is not a server name"}
	}
	return origin, nil
}

// readJSONBody reads the body, which must be empty or JSON as
// gomatrixserverlib will require.
func readJSONBody(r *http.Request) ([]byte, error) {
	content, err := mxhttp.ReadBody(r, MaxRequestBody)
	if err != nil || len(content) == 0 {
		return content, err
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, mxhttp.NotJSON("Content-Type must be application/json")
	}
	if !utf8.Valid(content) || !json.Valid(content) {
		return nil, mxhttp.NotJSON("Content not JSON.")
	}
	return content, nil
}

// refuse logs a refused request and returns its error.
func (v *Verifier) refuse(r *http.Request, origin spec.ServerName, err error) error {
	slog.Warn("federation request refused", "origin", origin, "method", r.Method, "path", r.URL.Path, "reason", err.Error())
	return err
}

// messageOf is the text of one of gomatrixserverlib's error responses.
func messageOf(resp util.JSONResponse) string {
	raw, _ := json.Marshal(resp.JSON)
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &m) != nil || m.Message == "" {
		return "Invalid request"
	}
	return m.Message
}
