// Package pushrules holds a user's push rules: the spec's server-default
// rules (defaults.json, taken from the spec's "Predefined Rules") merged
// with the user's own rules and with what the user changed of the
// defaults (enabled, actions). The rules are kept as the account data
// m.push_rules, in the form GET /pushrules/ answers.
package pushrules

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Kinds in the order the spec evaluates them. postcontent (MSC4306) comes
// between content and room; it holds server rules only (none yet: thread
// subscriptions are not served), clients may not add to it.
var Kinds = []string{"override", "content", "postcontent", "room", "sender", "underride"}

// Rule is a push rule as the API shows it. Conditions are kept as JSON,
// so that kinds of conditions added to the spec pass through unchanged.
type Rule struct {
	RuleID     string             `json:"rule_id"`
	Default    bool               `json:"default"`
	Enabled    bool               `json:"enabled"`
	Actions    []json.RawMessage  `json:"actions"`
	Conditions *[]json.RawMessage `json:"conditions,omitempty"`
	Pattern    *string            `json:"pattern,omitempty"`
}

// Ruleset is the rules of one scope ("global"), by kind.
type Ruleset struct {
	Override    []Rule `json:"override"`
	Content     []Rule `json:"content"`
	Postcontent []Rule `json:"postcontent"`
	Room        []Rule `json:"room"`
	Sender      []Rule `json:"sender"`
	Underride   []Rule `json:"underride"`
}

// Document is the content of the m.push_rules account data.
type Document struct {
	Global Ruleset `json:"global"`
}

// Errors; the HTTP layer maps them to Matrix errors.
var (
	ErrNotFound = errors.New("push rule not found")
	ErrInvalid  = errors.New("invalid push rule")
	// ErrNoAnchor is a before/after naming no user-defined rule.
	ErrNoAnchor = errors.New("before/after rule not found")
)

//go:embed defaults.json
var defaultsFile []byte

// defaultsJSON is defaults.json without its indentation, so that the
// conditions kept as JSON are compact.
var defaultsJSON = func() string {
	var b bytes.Buffer
	if err := json.Compact(&b, defaultsFile); err != nil {
		panic("pushrules: defaults.json: " + err.Error())
	}
	return b.String()
}()

// userPlaceholder is how the spec writes the user's id into the defaults.
const userPlaceholder = "[the user's Matrix ID]"

// Defaults are the server-default rules of user.
func Defaults(userID string) Ruleset {
	var rs Ruleset
	// The id goes in as a JSON string value, escaped like one.
	id, _ := json.Marshal(userID)
	src := strings.ReplaceAll(defaultsJSON, `"`+userPlaceholder+`"`, string(id))
	if err := json.Unmarshal([]byte(src), &rs); err != nil {
		panic("pushrules: defaults.json: " + err.Error())
	}
	return rs
}

// Load merges the stored document (nil when the user changed nothing)
// with the current server defaults: the user's rules in their order, the
// defaults after them (the master rule before everything), each default
// with the enabled flag and actions the user gave it. Defaults that the
// server no longer has are dropped; new ones appear.
func Load(stored []byte, userID string) Ruleset {
	rs := Defaults(userID)
	var doc Document
	if len(stored) == 0 || json.Unmarshal(stored, &doc) != nil {
		return rs
	}
	for _, kind := range Kinds {
		saved := *doc.Global.kind(kind)
		defaults := *rs.kind(kind)
		var own []Rule
		for _, r := range saved {
			if r.Default {
				if i := slices.IndexFunc(defaults, func(d Rule) bool { return d.RuleID == r.RuleID }); i >= 0 {
					defaults[i].Enabled = r.Enabled
					if r.Actions != nil {
						defaults[i].Actions = r.Actions
					}
				}
			} else if validRuleID(r.RuleID) == nil {
				own = append(own, r)
			}
		}
		merged := make([]Rule, 0, len(own)+len(defaults))
		if kind == "override" && len(defaults) > 0 && defaults[0].RuleID == ".m.rule.master" {
			merged = append(merged, defaults[0])
			defaults = defaults[1:]
		}
		merged = append(merged, own...)
		*rs.kind(kind) = append(merged, defaults...)
	}
	return rs
}

// Marshal is the document to store.
func (rs *Ruleset) Marshal() ([]byte, error) {
	return json.Marshal(Document{Global: *rs})
}

// Kind returns the rules of a kind; ok is false for an unknown kind.
func (rs *Ruleset) Kind(kind string) (rules []Rule, ok bool) {
	p := rs.kind(kind)
	if p == nil {
		return nil, false
	}
	return *p, true
}

func (rs *Ruleset) kind(kind string) *[]Rule {
	switch kind {
	case "override":
		return &rs.Override
	case "content":
		return &rs.Content
	case "postcontent":
		return &rs.Postcontent
	case "room":
		return &rs.Room
	case "sender":
		return &rs.Sender
	case "underride":
		return &rs.Underride
	}
	return nil
}

// Get returns one rule.
func (rs *Ruleset) Get(kind, ruleID string) (*Rule, error) {
	rules := rs.kind(kind)
	if rules == nil {
		return nil, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	for i := range *rules {
		if (*rules)[i].RuleID == ruleID {
			r := (*rules)[i]
			return &r, nil
		}
	}
	return nil, ErrNotFound
}

// Delete removes a user-defined rule.
func (rs *Ruleset) Delete(kind, ruleID string) error {
	rules := rs.kind(kind)
	if rules == nil {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	i := slices.IndexFunc(*rules, func(r Rule) bool { return r.RuleID == ruleID })
	if i < 0 {
		return ErrNotFound
	}
	if (*rules)[i].Default {
		return fmt.Errorf("%w: server-default rules cannot be deleted", ErrInvalid)
	}
	*rules = slices.Delete(*rules, i, i+1)
	return nil
}

// SetEnabled switches a rule on or off.
func (rs *Ruleset) SetEnabled(kind, ruleID string, enabled bool) error {
	return rs.change(kind, ruleID, func(r *Rule) { r.Enabled = enabled })
}

// SetActions replaces a rule's actions.
func (rs *Ruleset) SetActions(kind, ruleID string, actions []json.RawMessage) error {
	if err := validateActions(actions); err != nil {
		return err
	}
	return rs.change(kind, ruleID, func(r *Rule) { r.Actions = actions })
}

func (rs *Ruleset) change(kind, ruleID string, fn func(*Rule)) error {
	rules := rs.kind(kind)
	if rules == nil {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	for i := range *rules {
		if (*rules)[i].RuleID == ruleID {
			fn(&(*rules)[i])
			return nil
		}
	}
	return ErrNotFound
}

// NewRule is the body of PUT /pushrules/global/{kind}/{ruleId}.
type NewRule struct {
	Actions    []json.RawMessage `json:"actions"`
	Conditions []json.RawMessage `json:"conditions"`
	Pattern    *string           `json:"pattern"`
}

// Put adds a user-defined rule or updates the one with the same id. A new
// rule goes before every other user-defined rule of its kind unless
// before or after name one; an updated rule keeps its place unless they
// do. A rule the user creates is enabled; an updated one keeps its flag.
func (rs *Ruleset) Put(kind, ruleID string, body NewRule, before, after string) error {
	rules := rs.kind(kind)
	if rules == nil {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	if kind == "postcontent" {
		// MSC4306: "servers MUST ensure that clients MUST NOT be able to
		// create custom rules with this push rule kind".
		return fmt.Errorf("%w: clients may not create postcontent rules", ErrInvalid)
	}
	rule, err := newRule(kind, ruleID, body)
	if err != nil {
		return err
	}
	existing := slices.IndexFunc(*rules, func(r Rule) bool { return r.RuleID == ruleID })
	if existing >= 0 {
		rule.Enabled = (*rules)[existing].Enabled
		if before == "" && after == "" {
			(*rules)[existing] = rule
			return nil
		}
		*rules = slices.Delete(*rules, existing, existing+1)
	}
	at, err := insertionPoint(*rules, kind, before, after)
	if err != nil {
		return err
	}
	*rules = slices.Insert(*rules, at, rule)
	return nil
}

// insertionPoint is where a user-defined rule goes.
func insertionPoint(rules []Rule, kind, before, after string) (int, error) {
	anchor := func(id string) (int, error) {
		i := slices.IndexFunc(rules, func(r Rule) bool { return r.RuleID == id && !r.Default })
		if i < 0 {
			return 0, fmt.Errorf("%w: %s", ErrNoAnchor, id)
		}
		return i, nil
	}
	switch {
	case before != "":
		return anchor(before)
	case after != "":
		i, err := anchor(after)
		return i + 1, err
	}
	// The most important user rule: first, but after the master rule.
	if kind == "override" && len(rules) > 0 && rules[0].RuleID == ".m.rule.master" {
		return 1, nil
	}
	return 0, nil
}

func newRule(kind, ruleID string, body NewRule) (Rule, error) {
	if err := validRuleID(ruleID); err != nil {
		return Rule{}, err
	}
	if err := validateActions(body.Actions); err != nil {
		return Rule{}, err
	}
	rule := Rule{RuleID: ruleID, Enabled: true, Actions: body.Actions}
	switch kind {
	case "override", "underride":
		if body.Conditions == nil {
			return Rule{}, fmt.Errorf("%w: %s rules need conditions", ErrInvalid, kind)
		}
		for _, c := range body.Conditions {
			if err := validateCondition(c); err != nil {
				return Rule{}, err
			}
		}
		conds := body.Conditions
		rule.Conditions = &conds
	case "content":
		if body.Pattern == nil || *body.Pattern == "" {
			return Rule{}, fmt.Errorf("%w: content rules need a pattern", ErrInvalid)
		}
		rule.Pattern = body.Pattern
	}
	return rule, nil
}

// validRuleID applies the spec's rules for ids the user chooses: no
// leading dot (reserved for the server), no slashes or backslashes. A room
// or sender rule whose id is no room or user id is kept; it never matches.
func validRuleID(id string) error {
	switch {
	case id == "" || len(id) > 255:
		return fmt.Errorf("%w: rule_id must be 1 to 255 characters", ErrInvalid)
	case strings.HasPrefix(id, "."):
		return fmt.Errorf("%w: rule ids starting with a dot are reserved for the server", ErrInvalid)
	case strings.ContainsAny(id, `/\`):
		return fmt.Errorf("%w: rule_id must not contain / or \\", ErrInvalid)
	}
	return nil
}

// validateActions accepts the spec's actions: "notify", a set_tweak
// object, and the historical "dont_notify" and "coalesce", which mean
// nothing now.
func validateActions(actions []json.RawMessage) error {
	if actions == nil {
		return fmt.Errorf("%w: actions are required", ErrInvalid)
	}
	for _, a := range actions {
		var name string
		if json.Unmarshal(a, &name) == nil {
			switch name {
			case "notify", "dont_notify", "coalesce":
				continue
			}
			return fmt.Errorf("%w: unknown action %q", ErrInvalid, name)
		}
		var tweak struct {
			SetTweak *string `json:"set_tweak"`
		}
		if json.Unmarshal(a, &tweak) != nil || tweak.SetTweak == nil || *tweak.SetTweak == "" {
			return fmt.Errorf("%w: an action is a string or an object with set_tweak", ErrInvalid)
		}
	}
	return nil
}

// validateCondition needs an object with a kind; conditions of kinds the
// server does not know are allowed (they never match, as the spec says).
func validateCondition(raw json.RawMessage) error {
	var c struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(raw, &c) != nil || c.Kind == "" {
		return fmt.Errorf("%w: a condition is an object with a kind", ErrInvalid)
	}
	return nil
}

// RoomMode is what a user's rules make of one room's notifications, as
// far as the unread counts of /sync follow them.
type RoomMode int

const (
	// NotifyAll leaves the default rules in charge.
	NotifyAll RoomMode = iota
	// MentionsOnly is a room rule without "notify": only what highlights
	// (the override rules above room rules) notifies.
	MentionsOnly
	// Muted is an enabled master rule, or an override rule matching just
	// the room without "notify".
	Muted
)

// RoomMode reads the room-level settings clients offer (Element's "all
// messages", "mentions and keywords", "mute") from the rules.
func (rs *Ruleset) RoomMode(roomID string) RoomMode {
	for _, r := range rs.Override {
		if !r.Enabled || notifies(r.Actions) {
			continue
		}
		if r.RuleID == ".m.rule.master" || matchesOnlyRoom(r.Conditions, roomID) {
			return Muted
		}
	}
	for _, r := range rs.Room {
		if r.Enabled && r.RuleID == roomID && !notifies(r.Actions) {
			return MentionsOnly
		}
	}
	return NotifyAll
}

func notifies(actions []json.RawMessage) bool {
	for _, a := range actions {
		if string(a) == `"notify"` {
			return true
		}
	}
	return false
}

// matchesOnlyRoom tells whether the conditions are the one an
// event_match on the room id that clients write to mute a room.
func matchesOnlyRoom(conds *[]json.RawMessage, roomID string) bool {
	if conds == nil || len(*conds) != 1 {
		return false
	}
	var c struct {
		Kind    string `json:"kind"`
		Key     string `json:"key"`
		Pattern string `json:"pattern"`
	}
	return json.Unmarshal((*conds)[0], &c) == nil && c.Kind == "event_match" && c.Key == "room_id" && c.Pattern == roomID
}

// CopyRoomRules gives the room newID a copy of each of the user's own
// rules about the room oldID (an upgrade's replacement, which the spec
// says should keep the user's notification settings): the room rule
// named oldID, and override and underride rules with an event_match on
// room_id for oldID, whose copy matches newID and is named with newID in
// place of oldID (a rule whose id does not name the room is left alone:
// its copy would need a name of our making). A copy goes just before its
// original and keeps its enabled flag; a rule the new room already has is
// not replaced. It reports whether anything was copied.
func (rs *Ruleset) CopyRoomRules(oldID, newID string) bool {
	if oldID == "" || newID == "" || oldID == newID {
		return false
	}
	copied := false
	for _, kind := range []string{"override", "room", "underride"} {
		rules := rs.kind(kind)
		for i := 0; i < len(*rules); i++ {
			r := (*rules)[i]
			if r.Default || !strings.Contains(r.RuleID, oldID) {
				continue
			}
			c, ok := roomRuleCopy(kind, r, oldID, newID)
			if !ok || slices.ContainsFunc(*rules, func(x Rule) bool { return x.RuleID == c.RuleID }) {
				continue
			}
			*rules = slices.Insert(*rules, i, c)
			i++
			copied = true
		}
	}
	return copied
}

// HasRoomRules tells whether CopyRoomRules would copy anything.
func (rs *Ruleset) HasRoomRules(oldID, newID string) bool {
	cp := Ruleset{Override: slices.Clone(rs.Override), Room: slices.Clone(rs.Room), Underride: slices.Clone(rs.Underride)}
	return cp.CopyRoomRules(oldID, newID)
}

// roomRuleCopy is r made about newID, if r is about oldID.
func roomRuleCopy(kind string, r Rule, oldID, newID string) (Rule, bool) {
	c := r
	c.Actions = slices.Clone(r.Actions)
	if kind == "room" {
		if r.RuleID != oldID {
			return Rule{}, false
		}
		c.RuleID = newID
		return c, true
	}
	if r.Conditions == nil {
		return Rule{}, false
	}
	conds := make([]json.RawMessage, len(*r.Conditions))
	about := false
	for i, raw := range *r.Conditions {
		conds[i] = raw
		var cond map[string]any
		if json.Unmarshal(raw, &cond) != nil || cond["kind"] != "event_match" || cond["key"] != "room_id" || cond["pattern"] != oldID {
			continue
		}
		cond["pattern"] = newID
		conds[i], _ = json.Marshal(cond)
		about = true
	}
	if !about {
		return Rule{}, false
	}
	c.Conditions = &conds
	c.RuleID = strings.ReplaceAll(r.RuleID, oldID, newID)
	return c, true
}
