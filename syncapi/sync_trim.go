package syncapi

import (
	"bytes"
	"encoding/json"

	"github.com/tidwall/gjson"
)

// What /sync leaves out (issue 10: its responses were 16–21% larger than
// Dendrite's for the same rooms). The spec's events in a room's timeline,
// state and state_after are ClientEventWithoutRoomID: the room id is the
// key they are under, so the room_id the stored client JSON carries is
// cut out, by slicing the stored bytes, never by re-marshalling them. The
// sections the spec makes optional are left out when empty (omitzero):
// a room's ephemeral and account_data, and the top-level account_data,
// presence, to_device and device_lists (and within device_lists an empty
// changed or left: a client, or SyTest, that finds "changed" takes it for
// the answer to "whose devices changed", and Synapse leaves both out when
// empty too), and the invite, leave, knock and peek maps; clients (matrix-js-sdk, mautrix) read a missing section as
// an empty one, and Dendrite sends them so. Kept even when empty because
// clients act on them: rooms.join, each room's timeline.events and
// unread_notifications, device_one_time_keys_count (a missing count makes
// some clients upload one-time keys) and device_unused_fallback_key_types
// (a missing list makes them think fallback keys unsupported).

// IsZero makes an empty event list an omitted section where the field
// says omitzero.
func (l eventList) IsZero() bool { return len(l.Events) == 0 }

// IsZero makes device_lists omitted when nothing changed.
func (d deviceLists) IsZero() bool { return len(d.Changed)+len(d.Left) == 0 }

// dropRoomIDs cuts room_id out of the client-format events of the rooms'
// timeline, state and state_after sections. The events of federation
// format are PDUs, whose room_id is signed, and stay as they are.
func (r *syncResponse) dropRoomIDs(req *syncRequest) {
	if req.filter.EventFormat == "federation" {
		return
	}
	for _, rooms := range []map[string]*joinedRoom{r.Rooms.Join, r.Rooms.Peek} {
		for _, jr := range rooms {
			dropRoomIDsOf(jr.Timeline.Events)
			if jr.State != nil {
				dropRoomIDsOf(jr.State.Events)
			}
			if jr.StateAfter != nil {
				dropRoomIDsOf(jr.StateAfter.Events)
			}
		}
	}
	for _, lr := range r.Rooms.Leave {
		dropRoomIDsOf(lr.Timeline.Events)
		if lr.State != nil {
			dropRoomIDsOf(lr.State.Events)
		}
		if lr.StateAfter != nil {
			dropRoomIDsOf(lr.StateAfter.Events)
		}
	}
}

// dropRoomIDsOf replaces each event of evs (a slice of this response's
// own) with its copy without room_id; the stored bytes are not touched.
func dropRoomIDsOf(evs []json.RawMessage) {
	for i, ev := range evs {
		evs[i] = withoutRoomID(ev)
	}
}

// withoutRoomID returns ev without its top-level "room_id" member, as a
// new slice; ev itself when it has none or is not as expected.
func withoutRoomID(ev json.RawMessage) json.RawMessage {
	v := gjson.GetBytes(ev, "room_id")
	if !v.Exists() || v.Index <= 0 || v.Index+len(v.Raw) > len(ev) {
		return ev
	}
	valStart, valEnd := v.Index, v.Index+len(v.Raw)
	keyStart := bytes.LastIndex(ev[:valStart], []byte(`"room_id"`))
	if keyStart < 0 || !onlyColon(ev[keyStart+len(`"room_id"`):valStart]) {
		return ev
	}
	cutStart, cutEnd := keyStart, valEnd
	next := skipSpace(ev, valEnd)
	if next < len(ev) && ev[next] == ',' {
		// A member follows: drop the comma after the value.
		cutEnd = next + 1
	} else {
		// The last member: drop the comma before the key, if any.
		p := keyStart - 1
		for p >= 0 && isSpace(ev[p]) {
			p--
		}
		if p >= 0 && ev[p] == ',' {
			cutStart = p
		}
	}
	out := make([]byte, 0, len(ev)-(cutEnd-cutStart))
	out = append(out, ev[:cutStart]...)
	return append(out, ev[cutEnd:]...)
}

func onlyColon(b []byte) bool {
	colons := 0
	for _, c := range b {
		switch {
		case c == ':':
			colons++
		case !isSpace(c):
			return false
		}
	}
	return colons == 1
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
