// Package mxhttp holds the HTTP plumbing every Matrix API shares: the error
// type and its one translation to the wire, JSON request decoding with the
// spec's error codes, and the handler shape that returns a body or an error.
package mxhttp
