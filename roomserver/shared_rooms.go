package roomserver

import (
	"context"
	"slices"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Who shares rooms with whom, for device lists across servers
// (docs/decisions/0012): a user's device changes go to every server that
// shares a room with them, and a remote user's cached device list is
// trusted only while a local user has shared a room with them ever since
// it was fetched.

// SharedSince is the answer of SharedWithLocalSince.
type SharedSince struct {
	// Pos is the newest stream position when the question was answered.
	Pos int64
	// Since holds, for each user that shares a room with a local user,
	// a stream position since which they have done so without a pause
	// (the latest join that made one of the shared rooms shared; later
	// than the true start at worst). Users sharing no room are missing.
	Since map[string]int64
}

// SharedServers names the servers of the joined members of every room the
// user is joined to (the user's own included), each once.
func (s *Server) SharedServers(ctx context.Context, user spec.UserID) ([]spec.ServerName, error) {
	users, err := s.store.SharedUsers(ctx, user.String())
	if err != nil {
		return nil, err
	}
	var out []spec.ServerName
	for u := range users {
		if _, domain, ok := strings.Cut(u, ":"); ok {
			out = append(out, spec.ServerName(domain))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// SharedWithLocalSince tells, for users of other servers, since when each
// has shared a room with a local user. Pos is read first, so that a
// sharing that starts while the question is answered is never placed
// before it.
func (s *Server) SharedWithLocalSince(ctx context.Context, users []string) (*SharedSince, error) {
	pos, err := s.store.MaxStreamPos(ctx)
	if err != nil {
		return nil, err
	}
	local := make([]string, 0, 1)
	for _, n := range s.cfg.LocalServerNames() {
		local = append(local, string(n))
	}
	joins, err := s.store.JoinsSharedWith(ctx, users, local)
	if err != nil {
		return nil, err
	}
	out := &SharedSince{Pos: pos, Since: map[string]int64{}}
	for _, j := range joins {
		// The room became shared with the later of the two joins; the user
		// has shared some room since the earliest such time.
		since := max(j.JoinPos, j.EarliestPeerPos, 1)
		if cur, ok := out.Since[j.UserID]; !ok || since < cur {
			out.Since[j.UserID] = since
		}
	}
	return out, nil
}
