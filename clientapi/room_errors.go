package clientapi

import (
	"errors"
	"strings"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// roomError maps roomserver errors to Matrix errors. The roomserver's
// messages say what failed; its sentinel says which errcode it is.
func roomError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case errors.Is(err, roomserver.ErrRoomNotFound):
		return mxhttp.NotFound("Room not found")
	case errors.Is(err, roomserver.ErrEventNotFound):
		return mxhttp.NotFound("Event not found")
	case errors.Is(err, roomserver.ErrForbidden):
		return mxhttp.Forbidden(trimSentinel(msg, roomserver.ErrForbidden))
	case errors.Is(err, roomserver.ErrTooLarge):
		return mxhttp.TooLarge(trimSentinel(msg, roomserver.ErrTooLarge))
	case errors.Is(err, roomserver.ErrBadEvent):
		return mxhttp.BadJSON(trimSentinel(msg, roomserver.ErrBadEvent))
	case errors.Is(err, roomserver.ErrUnsupportedVersion):
		return mxhttp.UnsupportedVersion("Unsupported room version")
	case errors.Is(err, roomserver.ErrAliasExists):
		return mxhttp.RoomInUse("Room alias already taken")
	case errors.Is(err, roomserver.ErrAliasNotFound):
		return mxhttp.NotFound("Room alias not found")
	case errors.Is(err, roomserver.ErrBadState):
		return mxhttp.BadState(trimSentinel(msg, roomserver.ErrBadState))
	}
	return err
}

func trimSentinel(msg string, sentinel error) string {
	if i := strings.Index(msg, sentinel.Error()+": "); i >= 0 {
		return msg[:i] + msg[i+len(sentinel.Error())+2:]
	}
	return msg
}
