package federationapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// The contents of m.typing, m.receipt and m.presence from other servers,
// read strictly: every user must belong to the server that sent the EDU
// (the spec: "a user belonging to the sending server"), ids must be ids,
// and an EDU may carry only so many entries. A receipt or presence entry
// that fails is left out and named in the error; an EDU that fails as a
// whole yields nothing.

const (
	// maxReceiptsPerEDU bounds the (room, user) receipts of one m.receipt.
	maxReceiptsPerEDU = 1000
	// maxPresencePerEDU bounds the users of one m.presence.
	maxPresencePerEDU = 1000
	// maxStatusMsg bounds a status message, in bytes.
	maxStatusMsg = 4096
	// maxIDLength is the spec's limit for user, room and event ids.
	maxIDLength = 255
)

var (
	errMalformedEDU = errors.New("malformed EDU content")
	errWrongOrigin  = errors.New("user does not belong to the sending server")
	errTooManyInEDU = errors.New("EDU carries too many entries")
)

// typingNotice is the content of m.typing.
type typingNotice struct {
	RoomID string `json:"room_id"`
	UserID string `json:"user_id"`
	Typing bool   `json:"typing"`
}

// parseTyping reads an m.typing content sent by origin.
func parseTyping(origin spec.ServerName, content []byte) (typingNotice, error) {
	var raw struct {
		RoomID *string `json:"room_id"`
		UserID *string `json:"user_id"`
		Typing *bool   `json:"typing"`
	}
	if err := json.Unmarshal(content, &raw); err != nil {
		return typingNotice{}, fmt.Errorf("%w: %v", errMalformedEDU, err)
	}
	if raw.RoomID == nil || raw.UserID == nil || raw.Typing == nil {
		return typingNotice{}, fmt.Errorf("%w: room_id, user_id and typing are required", errMalformedEDU)
	}
	if err := checkRoomID(*raw.RoomID); err != nil {
		return typingNotice{}, err
	}
	if err := checkSender(origin, *raw.UserID); err != nil {
		return typingNotice{}, err
	}
	return typingNotice{RoomID: *raw.RoomID, UserID: *raw.UserID, Typing: *raw.Typing}, nil
}

// readReceipt is one user's m.read receipt in one room.
type readReceipt struct {
	RoomID  string
	UserID  string
	EventID string
	// ThreadID is "" for an unthreaded receipt, else "main" or the
	// thread root's event id.
	ThreadID string
	// TS is when the user read the event; 0 when the sender left it out.
	TS int64
}

// receiptEntry is what m.receipt holds for one user and receipt type.
type receiptEntry struct {
	EventIDs []string `json:"event_ids"`
	Data     *struct {
		TS       *int64  `json:"ts"`
		ThreadID *string `json:"thread_id"`
	} `json:"data"`
}

// parseReceipts reads an m.receipt content sent by origin: room id ->
// receipt type -> user id -> entry. Only m.read is taken; a private
// receipt never travels between servers, and other types are unknown.
// It returns the receipts that passed, in a stable order, and an error
// naming what was left out.
func parseReceipts(origin spec.ServerName, content []byte) ([]readReceipt, error) {
	var rooms map[string]map[string]map[string]json.RawMessage
	if err := json.Unmarshal(content, &rooms); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformedEDU, err)
	}
	n := 0
	for _, types := range rooms {
		for _, users := range types {
			n += len(users)
		}
	}
	if n > maxReceiptsPerEDU {
		return nil, fmt.Errorf("%w: %d receipts, at most %d", errTooManyInEDU, n, maxReceiptsPerEDU)
	}
	var out []readReceipt
	var problems []error
	for _, roomID := range slices.Sorted(maps.Keys(rooms)) {
		if err := checkRoomID(roomID); err != nil {
			problems = append(problems, err)
			continue
		}
		for _, typ := range slices.Sorted(maps.Keys(rooms[roomID])) {
			if typ != "m.read" {
				problems = append(problems, fmt.Errorf("receipt type %q in %s not taken", typ, roomID))
				continue
			}
			users := rooms[roomID][typ]
			for _, userID := range slices.Sorted(maps.Keys(users)) {
				r, err := parseReceiptEntry(origin, roomID, userID, users[userID])
				if err != nil {
					problems = append(problems, fmt.Errorf("receipt of %q in %s: %w", userID, roomID, err))
					continue
				}
				out = append(out, r)
			}
		}
	}
	return out, errors.Join(problems...)
}

func parseReceiptEntry(origin spec.ServerName, roomID, userID string, raw json.RawMessage) (readReceipt, error) {
	if err := checkSender(origin, userID); err != nil {
		return readReceipt{}, err
	}
	var e receiptEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return readReceipt{}, fmt.Errorf("%w: %v", errMalformedEDU, err)
	}
	// The spec allows exactly one event id: the one read up to.
	if len(e.EventIDs) != 1 {
		return readReceipt{}, fmt.Errorf("%w: event_ids holds %d ids, want 1", errMalformedEDU, len(e.EventIDs))
	}
	if e.Data == nil {
		return readReceipt{}, fmt.Errorf("%w: data is required", errMalformedEDU)
	}
	r := readReceipt{RoomID: roomID, UserID: userID, EventID: e.EventIDs[0]}
	if err := checkEventID(r.EventID); err != nil {
		return readReceipt{}, err
	}
	if e.Data.TS != nil {
		if *e.Data.TS < 0 {
			return readReceipt{}, fmt.Errorf("%w: negative ts", errMalformedEDU)
		}
		r.TS = *e.Data.TS
	}
	if e.Data.ThreadID != nil {
		r.ThreadID = *e.Data.ThreadID
		if r.ThreadID != "main" {
			if err := checkEventID(r.ThreadID); err != nil {
				return readReceipt{}, fmt.Errorf("thread_id: %w", err)
			}
		}
	}
	return r, nil
}

// presenceUpdate is one user's entry in m.presence's push list.
type presenceUpdate struct {
	UserID          string  `json:"user_id"`
	Presence        string  `json:"presence"`
	StatusMsg       *string `json:"status_msg,omitempty"`
	LastActiveAgo   int64   `json:"last_active_ago"`
	CurrentlyActive bool    `json:"currently_active,omitempty"`
}

var presenceStates = map[string]bool{"online": true, "unavailable": true, "offline": true}

// parsePresence reads an m.presence content sent by origin. It returns
// the updates that passed and an error naming what was left out.
func parsePresence(origin spec.ServerName, content []byte) ([]presenceUpdate, error) {
	var raw struct {
		Push *[]json.RawMessage `json:"push"`
	}
	if err := json.Unmarshal(content, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformedEDU, err)
	}
	if raw.Push == nil {
		return nil, fmt.Errorf("%w: push is required", errMalformedEDU)
	}
	if len(*raw.Push) > maxPresencePerEDU {
		return nil, fmt.Errorf("%w: %d presence updates, at most %d", errTooManyInEDU, len(*raw.Push), maxPresencePerEDU)
	}
	var out []presenceUpdate
	var problems []error
	for i, item := range *raw.Push {
		p, err := parsePresenceUpdate(origin, item)
		if err != nil {
			problems = append(problems, fmt.Errorf("presence update %d: %w", i, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(problems...)
}

func parsePresenceUpdate(origin spec.ServerName, raw json.RawMessage) (presenceUpdate, error) {
	var e struct {
		UserID          *string `json:"user_id"`
		Presence        *string `json:"presence"`
		StatusMsg       *string `json:"status_msg"`
		LastActiveAgo   *int64  `json:"last_active_ago"`
		CurrentlyActive *bool   `json:"currently_active"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return presenceUpdate{}, fmt.Errorf("%w: %v", errMalformedEDU, err)
	}
	if e.UserID == nil || e.Presence == nil {
		return presenceUpdate{}, fmt.Errorf("%w: user_id and presence are required", errMalformedEDU)
	}
	if err := checkSender(origin, *e.UserID); err != nil {
		return presenceUpdate{}, err
	}
	if !presenceStates[*e.Presence] {
		return presenceUpdate{}, fmt.Errorf("%w: presence %q", errMalformedEDU, *e.Presence)
	}
	p := presenceUpdate{UserID: *e.UserID, Presence: *e.Presence, StatusMsg: e.StatusMsg}
	if p.StatusMsg != nil && (len(*p.StatusMsg) > maxStatusMsg || !utf8.ValidString(*p.StatusMsg)) {
		return presenceUpdate{}, fmt.Errorf("%w: status_msg too long or not UTF-8", errMalformedEDU)
	}
	// last_active_ago is required by the spec; a missing one reads as
	// "just now" rather than costing the update.
	if e.LastActiveAgo != nil {
		if *e.LastActiveAgo < 0 {
			return presenceUpdate{}, fmt.Errorf("%w: negative last_active_ago", errMalformedEDU)
		}
		p.LastActiveAgo = *e.LastActiveAgo
	}
	if e.CurrentlyActive != nil {
		p.CurrentlyActive = *e.CurrentlyActive
	}
	return p, nil
}

// checkSender checks that userID is a user id of origin.
func checkSender(origin spec.ServerName, userID string) error {
	if len(userID) > maxIDLength {
		return fmt.Errorf("%w: user id too long", errMalformedEDU)
	}
	u, err := spec.NewUserID(userID, true)
	if err != nil {
		return fmt.Errorf("%w: user id %q: %v", errMalformedEDU, userID, err)
	}
	if u.Domain() != origin {
		return fmt.Errorf("%w: %s sent for %s", errWrongOrigin, origin, userID)
	}
	return nil
}

func checkRoomID(roomID string) error {
	if len(roomID) > maxIDLength {
		return fmt.Errorf("%w: room id too long", errMalformedEDU)
	}
	if _, err := spec.NewRoomID(roomID); err != nil {
		return fmt.Errorf("%w: room id %q: %v", errMalformedEDU, roomID, err)
	}
	return nil
}

func checkEventID(eventID string) error {
	if len(eventID) < 2 || len(eventID) > maxIDLength || eventID[0] != '$' || !utf8.ValidString(eventID) {
		return fmt.Errorf("%w: event id %q", errMalformedEDU, eventID)
	}
	return nil
}
