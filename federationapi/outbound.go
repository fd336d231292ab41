package federationapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
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
