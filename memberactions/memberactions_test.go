package memberactions

import (
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/roomserver"
)

// TestAcceptable: which invites auto_accept_invites takes, by its two
// restrictions. The joins themselves are tested through the API
// (internal/app TestAutoAcceptInvites).
func TestAcceptable(t *testing.T) {
	bob := spec.NewUserIDOrPanic("@bob:test", true)
	invite := func(sender string, direct bool) *roomserver.OutputEvent {
		pdu := `{"content":{"membership":"invite"}}`
		if direct {
			pdu = `{"content":{"membership":"invite","is_direct":true}}`
		}
		key := bob.String()
		return &roomserver.OutputEvent{Type: spec.MRoomMember, StateKey: &key, Sender: sender, Membership: spec.Invite, PDU: []byte(pdu)}
	}
	tests := []struct {
		name  string
		rule  config.AutoAcceptInvites
		ev    *roomserver.OutputEvent
		wants bool
	}{
		{"off", config.AutoAcceptInvites{}, invite("@alice:test", true), false},
		{"any invite", config.AutoAcceptInvites{Enabled: true}, invite("@carol:other.example", false), true},
		{"DM only: group invite", config.AutoAcceptInvites{Enabled: true, OnlyForDirectMessages: true}, invite("@alice:test", false), false},
		{"DM only: DM", config.AutoAcceptInvites{Enabled: true, OnlyForDirectMessages: true}, invite("@alice:test", true), true},
		{"local only: remote", config.AutoAcceptInvites{Enabled: true, OnlyFromLocalUsers: true}, invite("@carol:other.example", true), false},
		{"local only: local", config.AutoAcceptInvites{Enabled: true, OnlyFromLocalUsers: true}, invite("@alice:test", false), true},
		{"own invite", config.AutoAcceptInvites{Enabled: true}, invite("@bob:test", true), false},
		{"bad sender", config.AutoAcceptInvites{Enabled: true}, invite("alice", true), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.ServerName = "test"
			cfg.AutoAcceptInvites = tc.rule
			a := &Actions{cfg: cfg}
			if got := a.acceptable(tc.ev, bob); got != tc.wants {
				t.Fatalf("acceptable = %v, want %v", got, tc.wants)
			}
		})
	}
}
