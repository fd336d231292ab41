// Package clamd talks to a ClamAV daemon: INSTREAM scans over a unix or
// TCP socket.
package clamd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Client scans through one clamd address, "unix:/path/clamd.ctl" or
// "tcp:host:port".
type Client struct {
	network, address string
	timeout          time.Duration
}

// ErrUnavailable is clamd not answering (down, overloaded, misconfigured).
var ErrUnavailable = errors.New("virus scanner unavailable")

// New parses the address.
func New(address string, timeout time.Duration) (*Client, error) {
	network, addr, ok := strings.Cut(address, ":")
	if !ok || (network != "unix" && network != "tcp") || addr == "" {
		return nil, fmt.Errorf("clamd address %q is not unix:/path or tcp:host:port", address)
	}
	return &Client{network: network, address: addr, timeout: timeout}, nil
}

// Result is a scan's verdict; Signature names what was found.
type Result struct {
	Infected  bool
	Signature string
}

// chunkSize is what one INSTREAM chunk carries.
const chunkSize = 64 << 10

// Scan streams r to clamd and returns its verdict.
func (c *Client) Scan(ctx context.Context, r io.Reader) (Result, error) {
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, "zINSTREAM\x00"); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	buf := make([]byte, chunkSize)
	var size [4]byte
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			binary.BigEndian.PutUint32(size[:], uint32(n))
			if _, err := conn.Write(size[:]); err != nil {
				return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
			if _, err := conn.Write(buf[:n]); err != nil {
				return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return Result{}, rerr
		}
	}
	if _, err := conn.Write([]byte{0, 0, 0, 0}); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	reply, err := bufio.NewReader(conn).ReadString(0)
	if err != nil && reply == "" {
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return parseReply(strings.TrimRight(reply, "\x00\n"))
}

// parseReply reads "stream: OK", "stream: <name> FOUND" or an error.
func parseReply(reply string) (Result, error) {
	rest, ok := strings.CutPrefix(reply, "stream: ")
	if !ok {
		return Result{}, fmt.Errorf("%w: unexpected reply %q", ErrUnavailable, reply)
	}
	switch {
	case rest == "OK":
		return Result{}, nil
	case strings.HasSuffix(rest, " FOUND"):
		return Result{Infected: true, Signature: strings.TrimSuffix(rest, " FOUND")}, nil
	}
	// "INSTREAM size limit exceeded. ERROR" and the like.
	return Result{}, fmt.Errorf("%w: %s", ErrUnavailable, rest)
}
