package clientapi

import (
	"net/http"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

type whoisConnection struct {
	IP        string `json:"ip"`
	LastSeen  int64  `json:"last_seen"`
	UserAgent string `json:"user_agent"`
}

type whoisSession struct {
	Connections []whoisConnection `json:"connections"`
}

type whoisDevice struct {
	Sessions []whoisSession `json:"sessions"`
}

// whois is GET /admin/whois/{userId}: admins may ask about anyone, users
// about themselves. Each device is one session whose one connection is
// the last request seen.
func (s *Server) whois(r *http.Request, dev *userapi.Device) (any, error) {
	user, err := pathUser(r)
	if err != nil {
		return nil, err
	}
	if user != dev.UserID && !dev.IsAdmin {
		return nil, mxhttp.Forbidden("Only server admins may look up other users")
	}
	if !s.isLocalServer(user.Domain()) {
		return nil, mxhttp.NotFound("Only local users can be looked up")
	}
	devices, err := s.users.Devices(r.Context(), user)
	if err != nil {
		return nil, userError(err)
	}
	out := make(map[string]whoisDevice, len(devices))
	for _, d := range devices {
		conns := []whoisConnection{}
		if d.LastSeenTS != nil {
			c := whoisConnection{LastSeen: *d.LastSeenTS, UserAgent: d.LastSeenUserAgent}
			if d.LastSeenIP != nil {
				c.IP = *d.LastSeenIP
			}
			conns = append(conns, c)
		}
		out[d.DeviceID] = whoisDevice{Sessions: []whoisSession{{Connections: conns}}}
	}
	return map[string]any{"user_id": user.String(), "devices": out}, nil
}
