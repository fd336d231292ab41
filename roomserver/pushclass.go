package roomserver

import (
	"slices"
	"strings"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// What the spec's default push rules make of an event decides the unread
// counts of /sync. Everything the rules need but the reader is known when
// the event is stored: whether it notifies, whether it highlights every
// member (@room by someone allowed to, a tombstone), and which users it
// mentions by id. The counts are then plain SQL. Users' own push rules
// are not applied (see docs/decisions/0005).

// maxStoredMentions bounds the ids kept per event; a message mentioning
// more users highlights only for the first ones.
const maxStoredMentions = 100

// classifyPush sets ev.PushClass and ev.Mentions for pdu in room r, with
// r's state before the event.
func classifyPush(r *room, pdu gomatrixserverlib.PDU, ev *storage.Event) {
	content := pdu.Content()
	if sk := pdu.StateKey(); sk != nil {
		// .m.rule.tombstone; other state events (.m.rule.member_event,
		// .m.rule.room.server_acl, and no rule for the rest) do not notify.
		if pdu.Type() == "m.room.tombstone" && *sk == "" {
			ev.PushClass = storage.PushHighlightAll
		}
		return
	}
	if gjson.GetBytes(content, `m\.relates_to.rel_type`).String() == "m.replace" {
		return // .m.rule.suppress_edits
	}
	switch pdu.Type() {
	case "m.room.message":
		if gjson.GetBytes(content, "msgtype").String() == "m.notice" {
			return // .m.rule.suppress_notices
		}
		ev.PushClass = storage.PushNotify
		mentions := gjson.GetBytes(content, `m\.mentions`)
		if mentions.Get("room").Type == gjson.True && mayNotifyRoom(r, pdu.SenderID()) {
			ev.PushClass = storage.PushHighlightAll // .m.rule.is_room_mention
		}
		var ids []string
		for _, id := range mentions.Get("user_ids").Array() {
			if id.Type == gjson.String && !strings.ContainsRune(id.Str, ' ') && !slices.Contains(ids, id.Str) {
				ids = append(ids, id.Str)
				if len(ids) == maxStoredMentions {
					break
				}
			}
		}
		ev.Mentions = strings.Join(ids, " ") // .m.rule.is_user_mention
	case "m.room.encrypted", // .m.rule.encrypted(_room_one_to_one)
		"m.call.invite",                                 // .m.rule.call
		"m.poll.start", "org.matrix.msc3381.poll.start", // polls (MSC3930)
		"m.poll.end", "org.matrix.msc3381.poll.end":
		ev.PushClass = storage.PushNotify
	}
}

// mayNotifyRoom is the sender_notification_permission "room" condition.
func mayNotifyRoom(r *room, sender spec.SenderID) bool {
	create, err := r.Create()
	if err != nil || create == nil {
		return false
	}
	if r.version.PrivilegedCreators() && slices.Contains(gomatrixserverlib.CreatorsFromCreateEvent(create), string(sender)) {
		return true
	}
	pl, err := gomatrixserverlib.NewPowerLevelContentFromAuthEvents(r, string(create.SenderID()))
	if err != nil {
		return false
	}
	return pl.UserLevel(sender) >= pl.NotificationLevel("room")
}
