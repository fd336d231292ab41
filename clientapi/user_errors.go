package clientapi

import (
	"errors"
	"net/http"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// userError maps userapi errors to Matrix errors; it is the only place
// that does. Anything else passes through (and becomes a 500 unless it is
// already an *mxhttp.Error).
func userError(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, userapi.ErrUserInUse):
		return mxhttp.UserInUse("User ID already taken.")
	case errors.Is(err, userapi.ErrInvalidUsername):
		return mxhttp.InvalidUsername(trimSentinel(err.Error(), userapi.ErrInvalidUsername))
	case errors.Is(err, userapi.ErrBadCredentials):
		return mxhttp.Forbidden("Invalid username or password")
	case errors.Is(err, userapi.ErrLocked):
		return &mxhttp.Error{Status: http.StatusUnauthorized, Code: "M_USER_LOCKED", Msg: "This account has been locked"}
	case errors.Is(err, userapi.ErrDeactivated):
		return mxhttp.UserDeactivated("This account has been deactivated")
	case errors.Is(err, userapi.ErrUnknownToken):
		return mxhttp.UnknownToken("Unknown access token")
	case errors.Is(err, userapi.ErrInvalidFilter):
		return mxhttp.BadJSON("Filter must be a JSON object")
	case errors.Is(err, userapi.ErrNotGuest):
		return mxhttp.Forbidden("Only guest accounts can be upgraded")
	case errors.Is(err, userapi.ErrThreePIDInUse):
		return &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_THREEPID_IN_USE", Msg: "This address is already bound to an account"}
	case errors.Is(err, userapi.ErrNotValidated), errors.Is(err, userapi.ErrBadToken):
		return &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_THREEPID_AUTH_FAILED", Msg: "The address has not been validated in this session"}
	case errors.Is(err, userapi.ErrNotFound):
		// The userapi's message names what is missing ("device X: not found").
		return mxhttp.NotFound(err.Error())
	}
	return err
}
