package sliding

import (
	"cmp"
	"slices"
)

// Ranked is a room with the stamp that orders it in a list.
type Ranked struct {
	RoomID string
	Bump   int64
}

// Sort orders rooms by recent activity: the highest bump stamp first,
// ties by room id so that the order is stable between requests.
func Sort(rooms []Ranked) {
	slices.SortFunc(rooms, Compare)
}

// Compare is the order of Sort.
func Compare(a, b Ranked) int {
	if c := cmp.Compare(b.Bump, a.Bump); c != 0 {
		return c
	}
	return cmp.Compare(a.RoomID, b.RoomID)
}

// Op is a list operation; only SYNC is sent (as Synapse does): the room
// ids of one range, in order.
type Op struct {
	Op      string   `json:"op"`
	Range   [2]int   `json:"range"`
	RoomIDs []string `json:"room_ids"`
}

// ListResult is a list in the response.
type ListResult struct {
	Count int  `json:"count"`
	Ops   []Op `json:"ops,omitempty"`
}

// Window cuts the sorted rooms into the list's ranges. A list without
// ranges has no window: the client learns only the count.
func Window(sorted []Ranked, ranges [][2]int) ListResult {
	res := ListResult{Count: len(sorted)}
	for _, r := range ranges {
		op := Op{Op: "SYNC", Range: r, RoomIDs: []string{}}
		for i := r[0]; i <= r[1] && i < len(sorted); i++ {
			op.RoomIDs = append(op.RoomIDs, sorted[i].RoomID)
		}
		res.Ops = append(res.Ops, op)
	}
	return res
}
