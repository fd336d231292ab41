package userapi

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/userapi/pushrules"
	"github.com/rohrpost/rohrpost/userapi/storage"
)

// PushRulesType is the account data the rules are kept in; clients see
// changes to it in /sync.
const PushRulesType = "m.push_rules"

// PushRuleChange is one change of the push rule API, applied atomically.
type PushRuleChange struct {
	Kind, RuleID string
	// Put adds or updates a user-defined rule, placed by Before/After.
	Put           *pushrules.NewRule
	Before, After string
	Delete        bool
	Enabled       *bool
	// Actions, when not nil, replaces the rule's actions.
	Actions []json.RawMessage
	// CopyRoom, when set, copies the user's rules about one room to
	// another (an upgrade's replacement; pushrules.CopyRoomRules).
	CopyRoom *RoomRulesCopy `json:",omitempty"`
}

// RoomRulesCopy names the room whose rules are copied and the room that
// gets the copies.
type RoomRulesCopy struct {
	From, To string
}

func (s *Server) PushRules(ctx context.Context, user spec.UserID) (*pushrules.Ruleset, error) {
	stored, err := s.store.AccountData(ctx, user.String(), "", PushRulesType)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	rs := pushrules.Load(stored, user.String())
	return &rs, nil
}

func (s *Server) UpdatePushRules(ctx context.Context, user spec.UserID, change PushRuleChange) error {
	pos, err := s.store.UpdateAccountData(ctx, user.String(), "", PushRulesType, func(old []byte) ([]byte, error) {
		rs := pushrules.Load(old, user.String())
		var err error
		switch {
		case change.CopyRoom != nil:
			rs.CopyRoomRules(change.CopyRoom.From, change.CopyRoom.To)
		case change.Put != nil:
			err = rs.Put(change.Kind, change.RuleID, *change.Put, change.Before, change.After)
		case change.Delete:
			err = rs.Delete(change.Kind, change.RuleID)
		case change.Enabled != nil:
			err = rs.SetEnabled(change.Kind, change.RuleID, *change.Enabled)
		case change.Actions != nil:
			err = rs.SetActions(change.Kind, change.RuleID, change.Actions)
		}
		if err != nil {
			return nil, err
		}
		return rs.Marshal()
	})
	if err != nil {
		return err
	}
	s.publishAccountData(user.String(), pos)
	return nil
}
