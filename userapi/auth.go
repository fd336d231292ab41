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
		if errors.Is(err, ErrTokenExpired) {
			// A soft logout: the client refreshes the token and carries on.
			return nil, &mxhttp.Error{Status: http.StatusUnauthorized, Code: "M_UNKNOWN_TOKEN",
				Msg: "Access token has expired", Extra: map[string]any{"soft_logout": true}}
		}
		return nil, err
	}
	if dev.Locked && !isLogout(r.URL.Path) {
		// The session stays: the client keeps its state and finds out
		// by retrying when the lock is lifted.
		return nil, &mxhttp.Error{Status: http.StatusUnauthorized, Code: "M_USER_LOCKED",
			Msg: "This account has been locked", Extra: map[string]any{"soft_logout": true}}
	}
	// Last-seen data is informational (GET /devices, whois); a failure to
	// record it must not fail the request.
	_ = api.DeviceSeen(r.Context(), dev, remoteIP(r), r.UserAgent())
	return dev, nil
}

// isLogout tells whether path is POST /logout or /logout/all, the only
// endpoints a locked account may use.
func isLogout(path string) bool {
	rest, ok := strings.CutPrefix(path, "/_matrix/client/")
	if !ok {
		return false
	}
	_, rest, _ = strings.Cut(rest, "/") // the version: v3, r0
	return rest == "logout" || rest == "logout/all"
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
