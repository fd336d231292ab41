package federationapi

import (
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// FuzzEphemeralContent feeds the same bytes to the three EDU content
// parsers. None may panic, and whatever one accepts names only users of
// the sending server and valid ids.
func FuzzEphemeralContent(f *testing.F) {
	for _, seed := range []string{
		`{"room_id":"!r:ours.test","user_id":"@bob:remote.test","typing":true}`,
		`{"room_id":"!r:ours.test","user_id":"@bob:elsewhere.test","typing":false}`,
		`{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$e"],"data":{"ts":1,"thread_id":"$t"}}}}}`,
		`{"!r:ours.test":{"m.read.private":{"@bob:remote.test":{"event_ids":["$e"],"data":{"ts":1}}}}}`,
		`{"!r:ours.test":{"m.read":{"@bob:remote.test":{"event_ids":["$a","$b"],"data":{}}}}}`,
		`{"push":[{"user_id":"@bob:remote.test","presence":"online","last_active_ago":5,"currently_active":true,"status_msg":"x"}]}`,
		`{"push":[{"user_id":"@bob:remote.test","presence":"away","last_active_ago":-1}]}`,
		`{"push":null}`, `null`, `[]`, `{}`, `"x"`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		if n, err := parseTyping(remoteOrigin, content); err == nil {
			checkFuzzedUser(t, n.UserID)
			if checkRoomID(n.RoomID) != nil {
				t.Fatalf("typing accepted room id %q", n.RoomID)
			}
		}
		receipts, _ := parseReceipts(remoteOrigin, content)
		if len(receipts) > maxReceiptsPerEDU {
			t.Fatalf("%d receipts accepted", len(receipts))
		}
		for _, r := range receipts {
			checkFuzzedUser(t, r.UserID)
			if checkRoomID(r.RoomID) != nil || checkEventID(r.EventID) != nil || r.TS < 0 {
				t.Fatalf("receipt accepted: %+v", r)
			}
		}
		updates, _ := parsePresence(remoteOrigin, content)
		if len(updates) > maxPresencePerEDU {
			t.Fatalf("%d presence updates accepted", len(updates))
		}
		for _, p := range updates {
			checkFuzzedUser(t, p.UserID)
			if !presenceStates[p.Presence] || p.LastActiveAgo < 0 || p.StatusMsg != nil && len(*p.StatusMsg) > maxStatusMsg {
				t.Fatalf("presence accepted: %+v", p)
			}
		}
	})
}

func checkFuzzedUser(t *testing.T, userID string) {
	t.Helper()
	u, err := spec.NewUserID(userID, true)
	if err != nil || u.Domain() != remoteOrigin {
		t.Fatalf("accepted user %q of another server (%v)", userID, err)
	}
}
