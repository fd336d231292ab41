package app

import (
	"context"

	"github.com/rohrpost/rohrpost/memberactions"
)

// startMemberActions runs auto_accept_invites and forget_rooms_on_leave
// where the client API runs: they act as the user's client would.
func (a *App) startMemberActions(ctx context.Context) error {
	var err error
	a.memberActions, err = memberactions.Start(ctx, a.Config, memberactions.Deps{Bus: a.Bus, Users: a.Users, Rooms: a.Rooms, Federation: a.Federation})
	return err
}
