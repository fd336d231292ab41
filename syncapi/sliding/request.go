package sliding

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// Limits on a request. Element X sends two or three lists with about 17
// required_state entries each; these leave generous room for other
// clients while bounding the work one request can ask for.
const (
	MaxLists            = 100
	MaxListNameLen      = 64
	MaxConnIDLen        = 64
	MaxTxnIDLen         = 256
	MaxRanges           = 100
	MaxRangeIndex       = 1<<31 - 1
	MaxRequiredState    = 1000
	MaxSubscriptions    = 1000
	MaxFilterEntries    = 100
	MaxExtensionEntries = 1000
	// MaxTimelineLimit caps timeline_limit; larger values are lowered.
	MaxTimelineLimit = 1000
)

// Request is a parsed and validated sliding sync request body.
type Request struct {
	ConnID            string
	TxnID             string
	Lists             map[string]*List
	RoomSubscriptions map[string]*RoomConfig
	Extensions        Extensions
}

// RoomConfig is what a list or a room subscription asks for each room.
type RoomConfig struct {
	RequiredState *RequiredState
	TimelineLimit int
}

// List is one named sliding window over the user's rooms.
type List struct {
	Ranges [][2]int
	RoomConfig
	// Filters is nil when the list has none.
	Filters *Filters
}

// Extensions are the extensions the request enables. A disabled
// extension is nil.
type Extensions struct {
	ToDevice    *ToDeviceExtension
	E2EE        bool
	AccountData *RoomScope
	Receipts    *RoomScope
	Typing      *RoomScope
}

// ToDeviceExtension is the to-device extension: since acknowledges the
// messages up to it, like /sync's to-device position.
type ToDeviceExtension struct {
	Since string
	Limit int
}

// RoomScope says which rooms of the response an extension covers: the
// rooms of the named lists (nil: every list) and the named room
// subscriptions (nil: every subscription; "*" also means every one).
type RoomScope struct {
	Lists []string
	Rooms []string
}

// Covers tells whether the extension covers a room that appears in the
// given lists and is (or is not) subscribed.
func (s *RoomScope) Covers(lists []string, roomID string, subscribed bool) bool {
	if s.Lists == nil && len(lists) > 0 {
		return true
	}
	for _, l := range lists {
		for _, want := range s.Lists {
			if l == want {
				return true
			}
		}
	}
	if s.Rooms == nil {
		return subscribed
	}
	for _, r := range s.Rooms {
		if (r == "*" && subscribed) || r == roomID {
			return true
		}
	}
	return false
}

// wire forms: pointers tell an absent field from a zero one.
type wireRequest struct {
	ConnID            *string                    `json:"conn_id"`
	TxnID             *string                    `json:"txn_id"`
	Lists             map[string]*wireList       `json:"lists"`
	RoomSubscriptions map[string]*wireRoomConfig `json:"room_subscriptions"`
	Extensions        map[string]json.RawMessage `json:"extensions"`
}

type wireRoomConfig struct {
	RequiredState [][]string `json:"required_state"`
	TimelineLimit *int64     `json:"timeline_limit"`
}

type wireList struct {
	wireRoomConfig
	Ranges  [][]int64    `json:"ranges"`
	Filters *wireFilters `json:"filters"`
}

type wireFilters struct {
	IsDM         *bool     `json:"is_dm"`
	Spaces       []string  `json:"spaces"`
	IsEncrypted  *bool     `json:"is_encrypted"`
	IsInvite     *bool     `json:"is_invite"`
	RoomTypes    []*string `json:"room_types"`
	NotRoomTypes []*string `json:"not_room_types"`
	RoomNameLike *string   `json:"room_name_like"`
	Tags         []string  `json:"tags"`
	NotTags      []string  `json:"not_tags"`
}

type wireExtension struct {
	Enabled *bool     `json:"enabled"`
	Lists   *[]string `json:"lists"`
	Rooms   *[]string `json:"rooms"`
	Since   *string   `json:"since"`
	Limit   *int64    `json:"limit"`
}

// ParseRequest reads a request body: M_NOT_JSON when it is not a JSON
// object, M_BAD_JSON when a field has the wrong shape, M_INVALID_PARAM
// when a value is out of range or over a limit.
func ParseRequest(body []byte) (*Request, error) {
	var w wireRequest
	if len(bytes.TrimSpace(body)) == 0 {
		// Every field is optional; an empty body asks for nothing.
		body = []byte("{}")
	}
	if err := mxhttp.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	req := &Request{Lists: map[string]*List{}, RoomSubscriptions: map[string]*RoomConfig{}}
	if w.ConnID != nil {
		if len(*w.ConnID) > MaxConnIDLen {
			return nil, mxhttp.InvalidParam(fmt.Sprintf("conn_id is longer than %d bytes", MaxConnIDLen))
		}
		req.ConnID = *w.ConnID
	}
	if w.TxnID != nil {
		if len(*w.TxnID) > MaxTxnIDLen {
			return nil, mxhttp.InvalidParam(fmt.Sprintf("txn_id is longer than %d bytes", MaxTxnIDLen))
		}
		req.TxnID = *w.TxnID
	}
	if len(w.Lists) > MaxLists {
		return nil, mxhttp.InvalidParam(fmt.Sprintf("more than %d lists", MaxLists))
	}
	for name, wl := range w.Lists {
		if name == "" || len(name) > MaxListNameLen {
			return nil, mxhttp.InvalidParam(fmt.Sprintf("list names must have 1 to %d bytes", MaxListNameLen))
		}
		if wl == nil {
			return nil, mxhttp.BadJSON(fmt.Sprintf("list %q is null", name))
		}
		l, err := parseList(name, wl)
		if err != nil {
			return nil, err
		}
		req.Lists[name] = l
	}
	if len(w.RoomSubscriptions) > MaxSubscriptions {
		return nil, mxhttp.InvalidParam(fmt.Sprintf("more than %d room subscriptions", MaxSubscriptions))
	}
	for roomID, wc := range w.RoomSubscriptions {
		if !validRoomID(roomID) {
			return nil, mxhttp.InvalidParam(fmt.Sprintf("room subscription %q is not a room id", roomID))
		}
		if wc == nil {
			return nil, mxhttp.BadJSON(fmt.Sprintf("room subscription %q is null", roomID))
		}
		c, err := parseRoomConfig("room subscription "+roomID, wc)
		if err != nil {
			return nil, err
		}
		req.RoomSubscriptions[roomID] = c
	}
	if err := parseExtensions(w.Extensions, &req.Extensions); err != nil {
		return nil, err
	}
	return req, nil
}

func validRoomID(s string) bool {
	return len(s) > 1 && len(s) <= 255 && s[0] == '!'
}

func parseList(name string, wl *wireList) (*List, error) {
	c, err := parseRoomConfig("list "+name, &wl.wireRoomConfig)
	if err != nil {
		return nil, err
	}
	l := &List{RoomConfig: *c}
	if len(wl.Ranges) > MaxRanges {
		return nil, mxhttp.InvalidParam(fmt.Sprintf("list %q has more than %d ranges", name, MaxRanges))
	}
	for _, r := range wl.Ranges {
		if len(r) != 2 {
			return nil, mxhttp.BadJSON(fmt.Sprintf("list %q: a range is a pair of integers", name))
		}
		if r[0] < 0 || r[1] < r[0] || r[1] > MaxRangeIndex {
			return nil, mxhttp.InvalidParam(fmt.Sprintf("list %q: range [%d, %d] is out of order or out of bounds", name, r[0], r[1]))
		}
		l.Ranges = append(l.Ranges, [2]int{int(r[0]), int(r[1])})
	}
	if wl.Filters != nil {
		f, err := parseFilters(name, wl.Filters)
		if err != nil {
			return nil, err
		}
		l.Filters = f
	}
	return l, nil
}

func parseRoomConfig(what string, wc *wireRoomConfig) (*RoomConfig, error) {
	c := &RoomConfig{}
	if wc.TimelineLimit != nil {
		if *wc.TimelineLimit < 0 {
			return nil, mxhttp.InvalidParam(what + ": timeline_limit must not be negative")
		}
		c.TimelineLimit = int(min(*wc.TimelineLimit, MaxTimelineLimit))
	}
	if len(wc.RequiredState) > MaxRequiredState {
		return nil, mxhttp.InvalidParam(fmt.Sprintf("%s: more than %d required_state entries", what, MaxRequiredState))
	}
	rs, err := ParseRequiredState(wc.RequiredState)
	if err != nil {
		return nil, mxhttp.BadJSON(what + ": " + err.Error())
	}
	c.RequiredState = rs
	return c, nil
}

func parseFilters(list string, wf *wireFilters) (*Filters, error) {
	for _, n := range []int{len(wf.Spaces), len(wf.RoomTypes), len(wf.NotRoomTypes), len(wf.Tags), len(wf.NotTags)} {
		if n > MaxFilterEntries {
			return nil, mxhttp.InvalidParam(fmt.Sprintf("list %q: a filter has more than %d entries", list, MaxFilterEntries))
		}
	}
	for _, s := range wf.Spaces {
		if !validRoomID(s) {
			return nil, mxhttp.InvalidParam(fmt.Sprintf("list %q: space %q is not a room id", list, s))
		}
	}
	f := &Filters{IsDM: wf.IsDM, IsEncrypted: wf.IsEncrypted, IsInvite: wf.IsInvite, Spaces: wf.Spaces,
		RoomTypes: wf.RoomTypes, NotRoomTypes: wf.NotRoomTypes, Tags: wf.Tags, NotTags: wf.NotTags}
	if wf.RoomNameLike != nil {
		if len(*wf.RoomNameLike) > 255 {
			return nil, mxhttp.InvalidParam(fmt.Sprintf("list %q: room_name_like is too long", list))
		}
		like := strings.ToLower(*wf.RoomNameLike)
		f.RoomNameLike = &like
	}
	return f, nil
}

// parseExtensions reads the extensions the server knows. Unknown ones are
// left alone: clients send newer extensions (thread subscriptions,
// profiles) to every server and expect them ignored where unsupported.
func parseExtensions(raw map[string]json.RawMessage, out *Extensions) error {
	for name, body := range raw {
		var w wireExtension
		known := name == "to_device" || name == "e2ee" || name == "account_data" || name == "receipts" || name == "typing"
		if !known {
			continue
		}
		if err := json.Unmarshal(body, &w); err != nil || len(body) == 0 || body[0] != '{' {
			return mxhttp.BadJSON(fmt.Sprintf("extension %q is not a valid object", name))
		}
		if w.Enabled == nil || !*w.Enabled {
			continue
		}
		scope, err := parseScope(name, &w)
		if err != nil {
			return err
		}
		switch name {
		case "to_device":
			td := &ToDeviceExtension{Limit: 100}
			if w.Since != nil {
				td.Since = *w.Since
			}
			if w.Limit != nil {
				if *w.Limit < 0 {
					return mxhttp.InvalidParam("to_device: limit must not be negative")
				}
				td.Limit = int(min(*w.Limit, 1000))
			}
			out.ToDevice = td
		case "e2ee":
			out.E2EE = true
		case "account_data":
			out.AccountData = scope
		case "receipts":
			out.Receipts = scope
		case "typing":
			out.Typing = scope
		}
	}
	return nil
}

func parseScope(name string, w *wireExtension) (*RoomScope, error) {
	s := &RoomScope{}
	if w.Lists != nil {
		if len(*w.Lists) > MaxExtensionEntries {
			return nil, mxhttp.InvalidParam(fmt.Sprintf("%s: too many lists", name))
		}
		s.Lists = append([]string{}, *w.Lists...)
	}
	if w.Rooms != nil {
		if len(*w.Rooms) > MaxExtensionEntries {
			return nil, mxhttp.InvalidParam(fmt.Sprintf("%s: too many rooms", name))
		}
		for _, r := range *w.Rooms {
			if r != "*" && !validRoomID(r) {
				return nil, mxhttp.InvalidParam(fmt.Sprintf("%s: %q is neither \"*\" nor a room id", name, r))
			}
		}
		s.Rooms = append([]string{}, *w.Rooms...)
	}
	return s, nil
}
