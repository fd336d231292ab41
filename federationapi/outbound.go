package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// get makes a signed GET request to another server and decodes its answer.
func (s *Server) get(ctx context.Context, dest spec.ServerName, path string, out any) error {
	req := fclient.NewFederationRequest(http.MethodGet, s.cfg.ServerName, dest, path)
	key, _ := s.keyFor(s.cfg.ServerName)
	if err := req.Sign(key.ServerName, key.ID, key.Private); err != nil {
		return err
	}
	httpReq, err := req.HTTPRequest()
	if err != nil {
		return err
	}
	return s.client.DoRequestAndParseResponse(ctx, httpReq, out)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// isHTTPStatus tells whether a federation client error is an HTTP answer
// with the given status.
func isHTTPStatus(err error, status int) bool {
	var he gomatrix.HTTPError
	return errors.As(err, &he) && he.Code == status
}

// remoteMatrixError is the Matrix error another server answered with (a
// 4xx with an errcode), to pass on to our client; nil for anything else
// (unreachable, 5xx, no errcode), which our own errors describe.
func remoteMatrixError(err error) *mxhttp.Error {
	var he gomatrix.HTTPError
	if !errors.As(err, &he) || he.Code < 400 || he.Code >= 500 {
		return nil
	}
	var body map[string]any
	if json.Unmarshal(he.Contents, &body) != nil {
		return nil
	}
	code, _ := body["errcode"].(string)
	msg, _ := body["error"].(string)
	if !strings.HasPrefix(code, "M_") {
		return nil
	}
	// Fields beside errcode and error (room_version of
	// M_INCOMPATIBLE_ROOM_VERSION) go on to the client too.
	delete(body, "errcode")
	delete(body, "error")
	e := &mxhttp.Error{Status: he.Code, Code: code, Msg: "The remote server refused: " + msg}
	if len(body) > 0 {
		e.Extra = body
	}
	return e
}
