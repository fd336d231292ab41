package syncapi

import (
	"errors"
	"strconv"
	"strings"
)

// Token is a position in every stream a client syncs. It is written
// "s<pdu>_<typing>_<receipt>_<accountdata>_<presence>_<peek>_<todevice>_<devicelist>";
// tokens from older versions with fewer parts read the missing ones as 0.
type Token struct {
	PDU         int64
	Typing      int64
	Receipt     int64
	AccountData int64
	Presence    int64
	// Peek is the newest position of the device's own peeks (MSC2753); a
	// peek with a later position is new to the device.
	Peek int64
	// ToDevice is the position in the to-device inbox: messages up to it
	// were delivered, and syncing from it acknowledges them.
	ToDevice int64
	// DeviceList is the position in the userapi's key changes.
	DeviceList int64
}

const tokenParts = 8

// minPosition is the floor of readable room history: backfilled events
// take positions downwards from zero, and no room has two billion of them.
const minPosition = -(1 << 31)

// ErrBadToken is returned for anything that is not a token of ours.
var ErrBadToken = errors.New("malformed stream token")

func (t Token) String() string {
	var b strings.Builder
	b.Grow(32)
	b.WriteByte('s')
	for i, v := range t.parts() {
		if i > 0 {
			b.WriteByte('_')
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	return b.String()
}

func (t Token) parts() [tokenParts]int64 {
	return [tokenParts]int64{t.PDU, t.Typing, t.Receipt, t.AccountData, t.Presence, t.Peek, t.ToDevice, t.DeviceList}
}

// ParseToken reads a token; it rejects everything it did not write.
func ParseToken(s string) (Token, error) {
	rest, ok := strings.CutPrefix(s, "s")
	if !ok || rest == "" || len(s) > 200 {
		return Token{}, ErrBadToken
	}
	fields := strings.Split(rest, "_")
	if len(fields) > tokenParts {
		return Token{}, ErrBadToken
	}
	var v [tokenParts]int64
	for i, f := range fields {
		// Only the room event position goes below zero: history
		// backfilled from other servers lies there (roomserver/backfill.go).
		digits := f
		if i == 0 {
			digits = strings.TrimPrefix(f, "-")
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || digits == "" || digits[0] == '-' || digits[0] == '+' || (len(digits) > 1 && digits[0] == '0') || n < minPosition || (digits != f && n == 0) {
			return Token{}, ErrBadToken
		}
		v[i] = n
	}
	return Token{PDU: v[0], Typing: v[1], Receipt: v[2], AccountData: v[3], Presence: v[4], Peek: v[5], ToDevice: v[6], DeviceList: v[7]}, nil
}

// After tells whether any stream of t is ahead of o.
func (t Token) After(o Token) bool {
	a, b := t.parts(), o.parts()
	for i := range a {
		if a[i] > b[i] {
			return true
		}
	}
	return false
}

// Max is the per-stream maximum.
func (t Token) Max(o Token) Token {
	return Token{PDU: max(t.PDU, o.PDU), Typing: max(t.Typing, o.Typing), Receipt: max(t.Receipt, o.Receipt),
		AccountData: max(t.AccountData, o.AccountData), Presence: max(t.Presence, o.Presence), Peek: max(t.Peek, o.Peek),
		ToDevice: max(t.ToDevice, o.ToDevice), DeviceList: max(t.DeviceList, o.DeviceList)}
}
