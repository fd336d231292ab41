package userapi

import (
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// AccessToken extracts the token from the Authorization header or, as the
// spec still allows, the access_token query parameter.
func AccessToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	return r.URL.Query().Get("access_token")
}

// Authenticate resolves the request's access token to a device, or answers
// M_MISSING_TOKEN / M_UNKNOWN_TOKEN.
func Authenticate(api API, r *http.Request) (*Device, error) {
	token := AccessToken(r)
	if token == "" {
		return nil, mxhttp.MissingToken("Missing access token")
	}
	dev, err := api.VerifyAccessToken(r.Context(), token)
	if err != nil {
		if errors.Is(err, ErrUnknownToken) {
			return nil, mxhttp.UnknownToken("Unknown access token")
		}
		return nil, err
	}
	// Last-seen data is informational (GET /devices, whois); a failure to
	// record it must not fail the request.
	_ = api.DeviceSeen(r.Context(), dev, remoteIP(r), r.UserAgent())
	return dev, nil
}

// remoteIP is the address the request came from, without the port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Authed adapts a handler that needs the caller's device.
func Authed(api API, h func(r *http.Request, dev *Device) (any, error)) mxhttp.Handler {
	return func(r *http.Request) (any, error) {
		dev, err := Authenticate(api, r)
		if err != nil {
			return nil, err
		}
		return h(r, dev)
	}
}
