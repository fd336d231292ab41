package userexport

// erasedItem is one kind of data an erased (or deactivated) account
// still has on the server.
type erasedItem struct {
	What  string `json:"what"`
	File  string `json:"file,omitempty"`
	Count int    `json:"count"`
	Why   string `json:"why"`
}

type erasureJSON struct {
	Deactivated bool `json:"deactivated"`
	Erased      bool `json:"erased"`
	// Removed lists what deactivation (and erasure) took away.
	Removed []string `json:"removed"`
	// Kept is what is still held, with the reason.
	Kept []erasedItem `json:"kept"`
}

// erasure explains, for a deactivated account, what the server removed
// and what it keeps and why. An active account gets no such file. The
// reasons match docs/data-protection.md.
func (a *archive) erasure() error {
	if !a.deactivated {
		return nil
	}
	out := erasureJSON{Deactivated: true, Erased: a.erased, Kept: []erasedItem{}}
	out.Removed = []string{"password", "devices, their access tokens, end-to-end keys and pushers", "e-mail addresses", "memberships of joined rooms (left)"}
	if a.erased {
		out.Removed = append(out.Removed, "display name, avatar and profile fields", "account data (push rules, tags, direct chats, ignored users)",
			"filters", "key backups", "cross-signing keys and the signatures made with them", "OpenID and login tokens", "single sign-on links")
	}
	out.Kept = append(out.Kept, erasedItem{What: "the account's user id and flags", File: "account.json", Count: 1,
		Why: "a user id is never given to anyone else, and the erased flag makes the server hide the user's messages from those who join rooms later"})
	keep := func(what, file, why string) {
		if n := a.counts[file]; n > 0 {
			out.Kept = append(out.Kept, erasedItem{What: what, File: file, Count: n, Why: why})
		}
	}
	eventsWhy := "events are part of the rooms' shared history, which the other members and servers hold too; deleting them would break the rooms"
	if a.erased {
		eventsWhy += ". They are served with their content removed to everyone who could not see them before the erasure"
	}
	keep("events the user sent", "events.jsonl", eventsWhy)
	keep("room memberships", "rooms.json", "memberships are room state: every member's server needs them to check who may do what in the room")
	keep("uploaded files", "media.json", "files may be referenced by messages others received; an administrator deletes them on request (DELETE /_synapse/admin/v1/users/{userId}/media), and media_retention removes files nobody fetched for its lifetime")
	keep("reports the user made", "reports.json", "reports are the administrators' record of moderation; an administrator deletes them on request (DELETE /_synapse/admin/v1/event_reports/{id})")
	keep("devices", "devices.json", "devices made after the deactivation by an administrator")
	keep("e-mail addresses", "threepids.json", "addresses added by an administrator after the deactivation")
	return a.writeJSON("erasure.json", out)
}
