package sliding

import "strings"

// Filters narrow a list. Every field that is set must hold; an absent
// field does not filter (it does not mean false).
type Filters struct {
	IsDM        *bool
	Spaces      []string
	IsEncrypted *bool
	IsInvite    *bool
	// RoomTypes and NotRoomTypes hold room types from m.room.create's
	// content.type; a nil entry stands for rooms without a type. A type
	// in both lists is excluded.
	RoomTypes    []*string
	NotRoomTypes []*string
	// RoomNameLike is lower-cased; it matches a substring of the room's
	// m.room.name, ignoring case.
	RoomNameLike *string
	Tags         []string
	NotTags      []string
}

// RoomInfo is what the filters look at. Type is nil for a room without
// a type.
type RoomInfo struct {
	ID         string
	Membership string
	IsDM       bool
	Encrypted  bool
	Type       *string
	Name       string
	Tags       map[string]bool
	// InSpaces is filled by the caller for the spaces of the filter: the
	// room is a child (m.space.child) of one of them.
	InSpaces bool
}

// NeedsRoomState tells whether the filters read the room's state (type,
// encryption, name).
func (f *Filters) NeedsRoomState() bool {
	return f != nil && (f.IsEncrypted != nil || len(f.RoomTypes) > 0 || len(f.NotRoomTypes) > 0 || f.RoomNameLike != nil)
}

// NeedsTags tells whether the filters read the rooms' m.tag.
func (f *Filters) NeedsTags() bool {
	return f != nil && (len(f.Tags) > 0 || len(f.NotTags) > 0)
}

// Keep tells whether the room passes every filter.
func (f *Filters) Keep(r *RoomInfo) bool {
	if f == nil {
		return true
	}
	if f.IsDM != nil && *f.IsDM != r.IsDM {
		return false
	}
	if f.IsEncrypted != nil && *f.IsEncrypted != r.Encrypted {
		return false
	}
	if f.IsInvite != nil && *f.IsInvite != (r.Membership == "invite") {
		return false
	}
	if len(f.Spaces) > 0 && !r.InSpaces {
		return false
	}
	if len(f.RoomTypes) > 0 && !typeIn(r.Type, f.RoomTypes) {
		return false
	}
	if typeIn(r.Type, f.NotRoomTypes) {
		return false
	}
	if f.RoomNameLike != nil && !strings.Contains(strings.ToLower(r.Name), *f.RoomNameLike) {
		return false
	}
	if len(f.Tags) > 0 {
		found := false
		for _, t := range f.Tags {
			found = found || r.Tags[t]
		}
		if !found {
			return false
		}
	}
	for _, t := range f.NotTags {
		if r.Tags[t] {
			return false
		}
	}
	return true
}

func typeIn(t *string, list []*string) bool {
	for _, want := range list {
		if (want == nil && t == nil) || (want != nil && t != nil && *want == *t) {
			return true
		}
	}
	return false
}
