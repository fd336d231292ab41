package syncapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Device lists: an incremental /sync tells the client whose devices or
// keys it must fetch again (changed) and whose it may forget (left).
// Changed are the users who share a room with the client's user and whose
// keys changed since the token, those who joined or were invited to a
// room the user is in, and the members of rooms the user joined; left are
// those who no longer share any room after a leave. Invited members count
// as sharing: clients encrypt for them too (as Synapse reports them). The key changes come from the userapi's
// key_changes stream (read directly, decision 0001), the memberships from
// the roomserver's tables: three queries per sync when anything moved.

func (s *Server) deviceLists(ctx context.Context, user string, since, to Token) (changed, left []string, err error) {
	if since.DeviceList >= to.DeviceList && since.PDU >= to.PDU {
		return nil, nil, nil
	}
	shared, err := s.events.SharedOrInvitedUsers(ctx, user)
	if err != nil {
		return nil, nil, err
	}
	changedSet := map[string]bool{}
	if since.DeviceList < to.DeviceList {
		users, err := s.accountData.KeyChangesBetween(ctx, user, since.DeviceList, to.DeviceList)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range users {
			if shared[u] || u == user {
				changedSet[u] = true
			}
		}
	}
	leftSet := map[string]bool{}
	if since.PDU < to.PDU {
		ms, err := s.events.MembershipsOfUser(ctx, user)
		if err != nil {
			return nil, nil, err
		}
		var rooms, joinedNow, leftNow []int64
		for _, m := range ms {
			rooms = append(rooms, m.RoomNID)
			if m.StreamPos > since.PDU && m.StreamPos <= to.PDU {
				switch m.Membership {
				case spec.Join:
					joinedNow = append(joinedNow, m.RoomNID)
				case spec.Leave, spec.Ban:
					leftNow = append(leftNow, m.RoomNID)
				}
			}
		}
		changes, err := s.events.MembershipChangesSince(ctx, rooms, since.PDU, to.PDU)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range changes {
			if c.UserID == user {
				continue
			}
			switch c.Membership {
			case spec.Join, spec.Invite:
				changedSet[c.UserID] = true
			case spec.Leave, spec.Ban:
				if !shared[c.UserID] {
					leftSet[c.UserID] = true
				}
			}
		}
		members, err := s.events.JoinedUsersOfRooms(ctx, joinedNow)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range members {
			if u != user {
				changedSet[u] = true
			}
		}
		gone, err := s.events.JoinedUsersOfRooms(ctx, leftNow)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range gone {
			if u != user && !shared[u] {
				leftSet[u] = true
			}
		}
	}
	for u := range changedSet {
		if !leftSet[u] {
			changed = append(changed, u)
		}
	}
	for u := range leftSet {
		left = append(left, u)
	}
	slices.Sort(changed)
	slices.Sort(left)
	return changed, left, nil
}

// keyCounts fills the device's one-time key counts and unused fallback
// key types.
func (s *Server) keyCounts(ctx context.Context, dev *userapi.Device, resp *syncResponse) error {
	counts, err := s.accountData.OneTimeKeyCounts(ctx, dev.UserID.String(), dev.ID)
	if err != nil {
		return err
	}
	// Clients top up their one-time keys when the count is low; a count
	// of zero must be there to be seen (as other servers send it).
	if _, ok := counts["signed_curve25519"]; !ok {
		counts["signed_curve25519"] = 0
	}
	resp.OTKCounts = counts
	fallback, err := s.accountData.UnusedFallbackKeyTypes(ctx, dev.UserID.String(), dev.ID)
	if err != nil {
		return err
	}
	resp.FallbackKeyTypes = fallback
	return nil
}

// handleKeyChanges is GET /keys/changes?from=&to= with sync tokens.
func (s *Server) handleKeyChanges(r *http.Request, dev *userapi.Device) (any, error) {
	q := r.URL.Query()
	from, err := ParseToken(q.Get("from"))
	if err != nil {
		return nil, mxhttp.InvalidParam("from is not a sync token")
	}
	to, err := ParseToken(q.Get("to"))
	if err != nil {
		return nil, mxhttp.InvalidParam("to is not a sync token")
	}
	changed, left, err := s.deviceLists(r.Context(), dev.UserID.String(), from, to)
	if err != nil {
		return nil, err
	}
	if changed == nil {
		changed = []string{}
	}
	if left == nil {
		left = []string{}
	}
	return map[string]any{"changed": changed, "left": left}, nil
}

// onKeyChange wakes the syncs of everyone who shares a room with the user
// whose keys changed, and the user's own.
func (s *Server) onKeyChange(data []byte) {
	var c userapi.KeyChanged
	if err := json.Unmarshal(data, &c); err != nil {
		slog.Warn("syncapi: bad key change", "err", err)
		return
	}
	s.wakeCoMembers(context.Background(), c.UserID, Token{DeviceList: c.Pos})
}
