package federationapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// wireError turns what gomatrixserverlib's handlers and the roomserver
// return into the spec's error for the asking server; anything else stays
// an internal error, which mxhttp logs and answers without detail.
func wireError(err error) error {
	var inc spec.IncompatibleRoomVersionError
	if errors.As(err, &inc) {
		return &mxhttp.Error{Status: http.StatusBadRequest, Code: string(inc.ErrCode), Msg: inc.Err,
			Extra: map[string]any{"room_version": inc.RoomVersion}}
	}
	var me spec.MatrixError
	if errors.As(err, &me) {
		status := http.StatusBadRequest
		switch me.ErrCode {
		case spec.ErrorForbidden:
			status = http.StatusForbidden
		case spec.ErrorNotFound:
			status = http.StatusNotFound
		case spec.ErrorUnknown:
			status = http.StatusInternalServerError
		}
		return &mxhttp.Error{Status: status, Code: string(me.ErrCode), Msg: me.Err}
	}
	var ise spec.InternalServerError
	if errors.As(err, &ise) {
		slog.Error("federation: internal error", "err", ise.Err)
		return mxhttp.Internal("Internal server error")
	}
	switch {
	case errors.Is(err, roomserver.ErrRoomNotFound):
		return mxhttp.NotFound("Unknown room")
	case errors.Is(err, roomserver.ErrEventNotFound):
		return mxhttp.NotFound("Unknown event")
	case errors.Is(err, errRejected):
		return mxhttp.Forbidden(err.Error())
	case errors.Is(err, roomserver.ErrForbidden):
		return mxhttp.Forbidden(err.Error())
	case errors.Is(err, roomserver.ErrBadEvent), errors.Is(err, roomserver.ErrBadState):
		return mxhttp.BadJSON(err.Error())
	case errors.Is(err, roomserver.ErrTooLarge):
		return mxhttp.TooLarge(err.Error())
	case errors.Is(err, roomserver.ErrUnsupportedVersion):
		return mxhttp.UnsupportedVersion(err.Error())
	}
	return err
}
