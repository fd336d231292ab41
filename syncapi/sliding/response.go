package sliding

import "encoding/json"

// Response is the body of a sliding sync answer.
type Response struct {
	Pos        string                `json:"pos"`
	TxnID      string                `json:"txn_id,omitempty"`
	Lists      map[string]ListResult `json:"lists"`
	Rooms      map[string]*Room      `json:"rooms"`
	Extensions ExtensionsResponse    `json:"extensions"`
}

// Room is one room's update. Stored event JSON goes out as it is.
type Room struct {
	Name          string            `json:"name,omitempty"`
	Avatar        string            `json:"avatar,omitempty"`
	Heroes        []Hero            `json:"heroes,omitempty"`
	Initial       bool              `json:"initial,omitempty"`
	IsDM          bool              `json:"is_dm,omitempty"`
	RequiredState []json.RawMessage `json:"required_state,omitempty"`
	Timeline      []json.RawMessage `json:"timeline,omitempty"`
	PrevBatch     string            `json:"prev_batch,omitempty"`
	Limited       *bool             `json:"limited,omitempty"`
	NumLive       *int              `json:"num_live,omitempty"`
	BumpStamp     int64             `json:"bump_stamp"`
	JoinedCount   int               `json:"joined_count"`
	InvitedCount  int               `json:"invited_count"`
	Notifications int               `json:"notification_count"`
	Highlights    int               `json:"highlight_count"`
	// InviteState is the stripped state of an invite or a knock (Synapse
	// sends both under this name).
	InviteState []json.RawMessage `json:"invite_state,omitempty"`
}

// Hero is a member who names a room without a name.
type Hero struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// ExtensionsResponse holds the enabled extensions' data.
type ExtensionsResponse struct {
	ToDevice    *ToDeviceResponse    `json:"to_device,omitempty"`
	E2EE        *E2EEResponse        `json:"e2ee,omitempty"`
	AccountData *AccountDataResponse `json:"account_data,omitempty"`
	Receipts    *RoomEventsResponse  `json:"receipts,omitempty"`
	Typing      *RoomEventsResponse  `json:"typing,omitempty"`
}

// ToDeviceResponse is the to-device extension's answer.
type ToDeviceResponse struct {
	NextBatch string            `json:"next_batch"`
	Events    []json.RawMessage `json:"events"`
}

// E2EEResponse is the e2ee extension's answer.
type E2EEResponse struct {
	DeviceLists      *DeviceLists   `json:"device_lists,omitempty"`
	OTKCounts        map[string]int `json:"device_one_time_keys_count"`
	FallbackKeyTypes []string       `json:"device_unused_fallback_key_types"`
}

// DeviceLists are the users whose devices changed, or who share no room
// any more.
type DeviceLists struct {
	Changed []string `json:"changed"`
	Left    []string `json:"left"`
}

// AccountDataResponse is the account_data extension's answer.
type AccountDataResponse struct {
	Global []json.RawMessage            `json:"global"`
	Rooms  map[string][]json.RawMessage `json:"rooms"`
}

// RoomEventsResponse is one event per room: the receipts and typing
// extensions' answers.
type RoomEventsResponse struct {
	Rooms map[string]json.RawMessage `json:"rooms"`
}

// Empty tells whether the extensions carry nothing new (the key counts
// of e2ee are always there and do not count).
func (e *ExtensionsResponse) Empty() bool {
	if e.ToDevice != nil && len(e.ToDevice.Events) > 0 {
		return false
	}
	if e.E2EE != nil && e.E2EE.DeviceLists != nil && len(e.E2EE.DeviceLists.Changed)+len(e.E2EE.DeviceLists.Left) > 0 {
		return false
	}
	if e.AccountData != nil && len(e.AccountData.Global)+len(e.AccountData.Rooms) > 0 {
		return false
	}
	if e.Receipts != nil && len(e.Receipts.Rooms) > 0 {
		return false
	}
	return e.Typing == nil || len(e.Typing.Rooms) == 0
}
