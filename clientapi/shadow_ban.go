package clientapi

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"github.com/rohrpost/rohrpost/clientapi/delayedevents"
)

// A shadow-banned user (the admin API's shadow_ban) is told that their
// sends succeeded, but nothing is stored or sent: their messages, state
// events other than their own membership, redactions and invites
// (/invite, and those of createRoom, whose room is made without them)
// reach nobody, as Synapse does. They learn of it only by the events
// never arriving in any /sync, theirs included.

// shadowSend answers a shadow-banned user's send with an event id that
// looks like any other and names no event, or, for a delayed send
// (MSC4140), a delay id that names no delayed event.
func (s *Server) shadowSend(r *http.Request) (any, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	fake := base64.RawURLEncoding.EncodeToString(b[:])
	if _, delayed, err := delayParam(r); err != nil {
		return nil, err
	} else if delayed {
		if s.delayed == nil {
			return nil, delayedError(delayedevents.ErrDisabled)
		}
		return map[string]string{"delay_id": fake[:24]}, nil
	}
	return map[string]string{"event_id": "$" + fake}, nil
}
