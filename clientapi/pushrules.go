package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/rohrpost/rohrpost/userapi/pushrules"
)

// pushRules serves everything under /pushrules/: the whole set, a scope,
// a kind, a rule and a rule's enabled flag and actions. One handler reads
// the path, because a wrong path must be a 400 (the spec's "invalid
// scope", "missing rule id"), not the router's 404.
func (s *Server) pushRules(r *http.Request, dev *userapi.Device) (any, error) {
	rest := mux.Vars(r)["rest"]
	ctx := r.Context()
	if rest == "" {
		if r.Method != http.MethodGet {
			return nil, mxhttp.InvalidParam("A push rule needs a scope, a kind and a rule id")
		}
		rs, err := s.users.PushRules(ctx, dev.UserID)
		if err != nil {
			return nil, err
		}
		return pushrules.Document{Global: *rs}, nil
	}
	parts := strings.Split(rest, "/")
	if parts[0] != "global" {
		return nil, mxhttp.InvalidParam("Unknown push rule scope " + parts[0])
	}
	switch {
	case len(parts) == 1:
		return nil, mxhttp.InvalidParam("The scope needs a trailing slash")
	case len(parts) == 2 && parts[1] == "" && r.Method == http.MethodGet:
		rs, err := s.users.PushRules(ctx, dev.UserID)
		if err != nil {
			return nil, err
		}
		return rs, nil
	case len(parts) == 2 && parts[1] == "":
		return nil, mxhttp.InvalidParam("A push rule needs a kind and a rule id")
	}
	kind := parts[1]
	if !isPushRuleKind(kind) {
		return nil, mxhttp.InvalidParam("Unknown push rule kind " + kind)
	}
	switch {
	case len(parts) == 2:
		return nil, mxhttp.InvalidParam("The kind needs a trailing slash")
	case len(parts) == 3 && parts[2] == "" && r.Method == http.MethodGet:
		rs, err := s.users.PushRules(ctx, dev.UserID)
		if err != nil {
			return nil, err
		}
		rules, _ := rs.Kind(kind)
		return rules, nil
	case parts[2] == "":
		return nil, mxhttp.InvalidParam("Missing rule id")
	case len(parts) > 4:
		return nil, mxhttp.InvalidParam("A rule id must not contain a slash")
	}
	ruleID := parts[2]
	if len(parts) == 4 {
		return s.pushRuleAttribute(r, dev, kind, ruleID, parts[3])
	}
	switch r.Method {
	case http.MethodGet:
		rs, err := s.users.PushRules(ctx, dev.UserID)
		if err != nil {
			return nil, err
		}
		rule, err := rs.Get(kind, ruleID)
		if err != nil {
			return nil, pushRuleError(err)
		}
		return rule, nil
	case http.MethodDelete:
		return struct{}{}, pushRuleError(s.users.UpdatePushRules(ctx, dev.UserID, userapi.PushRuleChange{Kind: kind, RuleID: ruleID, Delete: true}))
	}
	var body pushrules.NewRule
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	change := userapi.PushRuleChange{Kind: kind, RuleID: ruleID, Put: &body, Before: q.Get("before"), After: q.Get("after")}
	return struct{}{}, pushRuleError(s.users.UpdatePushRules(ctx, dev.UserID, change))
}

// pushRuleAttribute is GET and PUT of …/{ruleId}/enabled and /actions.
func (s *Server) pushRuleAttribute(r *http.Request, dev *userapi.Device, kind, ruleID, attr string) (any, error) {
	if attr != "enabled" && attr != "actions" {
		return nil, mxhttp.InvalidParam("Unknown push rule attribute " + attr)
	}
	ctx := r.Context()
	if r.Method == http.MethodGet {
		rs, err := s.users.PushRules(ctx, dev.UserID)
		if err != nil {
			return nil, err
		}
		rule, err := rs.Get(kind, ruleID)
		if err != nil {
			return nil, pushRuleError(err)
		}
		if attr == "enabled" {
			return map[string]bool{"enabled": rule.Enabled}, nil
		}
		return map[string]any{"actions": rule.Actions}, nil
	}
	if r.Method != http.MethodPut {
		return nil, mxhttp.Unrecognized(http.StatusMethodNotAllowed)
	}
	var body struct {
		Enabled *bool             `json:"enabled"`
		Actions []json.RawMessage `json:"actions"`
	}
	if err := mxhttp.DecodeJSON(r, mxhttp.DefaultMaxBody, &body); err != nil {
		return nil, err
	}
	change := userapi.PushRuleChange{Kind: kind, RuleID: ruleID}
	switch {
	case attr == "enabled" && body.Enabled == nil:
		return nil, mxhttp.MissingParam("enabled must be true or false")
	case attr == "enabled":
		change.Enabled = body.Enabled
	case body.Actions == nil:
		return nil, mxhttp.MissingParam("actions must be a list")
	default:
		change.Actions = body.Actions
	}
	return struct{}{}, pushRuleError(s.users.UpdatePushRules(ctx, dev.UserID, change))
}

func isPushRuleKind(kind string) bool {
	for _, k := range pushrules.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

func pushRuleError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pushrules.ErrNotFound):
		return mxhttp.NotFound("The push rule was not found.")
	case errors.Is(err, pushrules.ErrNoAnchor):
		return &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_UNKNOWN", Msg: trimSentinel(err.Error(), pushrules.ErrNoAnchor)}
	case errors.Is(err, pushrules.ErrInvalid):
		return mxhttp.InvalidParam(err.Error())
	}
	return err
}
