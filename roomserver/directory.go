package roomserver

import (
	"context"
	"sort"
	"strings"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/tidwall/gjson"
)

// SearchMembers runs the user directory's search over the memberships in
// the database, without loading rooms into memory and in one call however
// many rooms the searcher shares. The searcher finds themself only where
// anyone could: in an open room.
func (s *Server) SearchMembers(ctx context.Context, req SearchMembersRequest) (*SearchMembersResponse, error) {
	rows, err := s.store.DirectoryMembers(ctx, req.Searcher.String())
	if err != nil {
		return nil, err
	}
	term := strings.ToLower(req.Term)
	var only map[string]bool
	if len(req.Users) > 0 {
		only = make(map[string]bool, len(req.Users))
		for _, u := range req.Users {
			only[u] = true
		}
	}
	// A public room counts while one of our users is in it: once our
	// server has left, what we know of its members is stale.
	ours := map[string]bool{}
	for _, m := range rows {
		if _, domain, err := gomatrixserverlib.SplitID('@', m.UserID); err == nil && s.isLocal(string(domain)) {
			ours[m.RoomID] = true
		}
	}
	found := map[string]MemberProfile{}
	for _, m := range rows {
		if _, seen := found[m.UserID]; seen || (m.UserID == req.Searcher.String() && !m.InOpenRoom) || (m.InOpenRoom && !ours[m.RoomID]) {
			continue
		}
		p := MemberProfile{DisplayName: gjson.GetBytes(m.Client, "content.displayname").String(),
			AvatarURL: gjson.GetBytes(m.Client, "content.avatar_url").String()}
		if only != nil {
			if only[m.UserID] {
				found[m.UserID] = p
			}
			continue
		}
		if strings.Contains(strings.ToLower(m.UserID), term) || strings.Contains(strings.ToLower(p.DisplayName), term) {
			found[m.UserID] = p
		}
	}
	res := &SearchMembersResponse{Results: make([]DirectoryMember, 0, len(found))}
	for u, p := range found {
		res.Results = append(res.Results, DirectoryMember{UserID: u, MemberProfile: p})
	}
	sort.Slice(res.Results, func(i, j int) bool { return res.Results[i].UserID < res.Results[j].UserID })
	if req.Limit > 0 && len(res.Results) > req.Limit {
		res.Results, res.Limited = res.Results[:req.Limit], true
	}
	return res, nil
}
