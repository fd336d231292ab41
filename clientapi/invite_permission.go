package clientapi

import (
	"context"
	"net/http"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// invitePermissionType is the account data by which users block invites
// (spec v1.18, MSC4380).
const invitePermissionType = "m.invite_permission_config"

// invitesBlocked tells whether a local user rejects all invites. Remote
// users' servers decide for them.
func (s *Server) invitesBlocked(ctx context.Context, user spec.UserID) bool {
	if !s.cfg.IsLocal(user.Domain()) {
		return false
	}
	raw, err := s.users.AccountData(ctx, user, "", invitePermissionType)
	return err == nil && gjson.GetBytes(raw, "default_action").String() == "block"
}

// checkInvitable refuses an invite of a user who blocks invites.
func (s *Server) checkInvitable(ctx context.Context, user spec.UserID) error {
	if s.invitesBlocked(ctx, user) {
		return &mxhttp.Error{Status: http.StatusForbidden, Code: "M_INVITE_BLOCKED", Msg: user.String() + " does not accept invites"}
	}
	return nil
}
