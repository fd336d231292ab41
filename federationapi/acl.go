package federationapi

import (
	"context"
	"encoding/json"
	"net"
	"path"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// A room's m.room.server_acl names the servers that may take part in it.
// It is checked for the server that sends a request about the room (the
// spec: the origin, not the events' senders).

type serverACL struct {
	Allow           []string `json:"allow"`
	Deny            []string `json:"deny"`
	AllowIPLiterals *bool    `json:"allow_ip_literals"`
}

// checkACL refuses origin when the room's server ACL denies it.
func (s *Server) checkACL(ctx context.Context, roomID string, origin spec.ServerName) error {
	ev, err := s.rooms.StateEvent(ctx, roomID, "m.room.server_acl", "")
	if err != nil {
		return nil // no ACL (or no room, which the caller finds out)
	}
	var acl serverACL
	if json.Unmarshal(ev.Content, &acl) != nil {
		return nil
	}
	if !acl.allows(origin) {
		return mxhttp.Forbidden("server " + string(origin) + " is denied by the room's server ACL")
	}
	return nil
}

func (acl serverACL) allows(server spec.ServerName) bool {
	host, _, ok := spec.ParseAndValidateServerName(server)
	if !ok {
		return false
	}
	name := strings.ToLower(host)
	allowIP := acl.AllowIPLiterals == nil || *acl.AllowIPLiterals
	if !allowIP && net.ParseIP(strings.Trim(name, "[]")) != nil {
		return false
	}
	for _, g := range acl.Deny {
		if globMatch(g, name) {
			return false
		}
	}
	for _, g := range acl.Allow {
		if globMatch(g, name) {
			return true
		}
	}
	return false
}

// globMatch matches the spec's ACL globs (* and ?) against a host name;
// path.Match's other syntax ([ and \) is escaped first.
func globMatch(glob, name string) bool {
	esc := strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`).Replace(strings.ToLower(glob))
	ok, err := path.Match(esc, name)
	return err == nil && ok
}
