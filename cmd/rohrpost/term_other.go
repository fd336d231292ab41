//go:build !linux

package main

import (
	"errors"
	"os"
)

// Elsewhere than Linux the password is read from a pipe only.
func isTerminal(*os.File) bool { return true }

func noEcho(*os.File) (func(), error) {
	return nil, errors.New("cannot hide the password here: give it with --password or on stdin")
}
