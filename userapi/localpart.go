package userapi

import (
	"fmt"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// maxUserIDLength is the spec's limit for a whole user id, sigil and
// server name included.
const maxUserIDLength = 255

// ValidateLocalpart checks a localpart chosen for a new account on server:
// the spec's grammar (a-z 0-9 . _ = - / +), the length of the whole user
// id, and that it is not purely numeric, which is kept for ids the server
// generates (guests, registrations without a username). It returns an
// error wrapping ErrInvalidUsername.
func ValidateLocalpart(localpart string, server spec.ServerName) error {
	if localpart == "" {
		return fmt.Errorf("%w: empty", ErrInvalidUsername)
	}
	numeric := true
	for i := 0; i < len(localpart); i++ {
		c := localpart[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c == '.', c == '_', c == '=', c == '-', c == '/', c == '+':
			numeric = false
		default:
			return fmt.Errorf("%w: %q may only contain a-z, 0-9, and . _ = - / +", ErrInvalidUsername, localpart)
		}
	}
	if numeric {
		return fmt.Errorf("%w: numeric user ids are reserved for the server", ErrInvalidUsername)
	}
	if n := len("@") + len(localpart) + len(":") + len(server); n > maxUserIDLength {
		return fmt.Errorf("%w: user id would be %d bytes long, at most %d are allowed", ErrInvalidUsername, n, maxUserIDLength)
	}
	return nil
}
