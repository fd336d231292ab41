//go:build linux

package apptest

import (
	"fmt"
	"io"
	"net"
	"syscall"
)

// reservePort binds a socket to addr without listening on it. Connections
// to addr are refused, as by a machine that is down, but the kernel hands
// the port to no other socket (neither a listener on port 0 nor an
// outgoing connection), so a test running in parallel cannot take the
// address a stopped server comes back on. SO_REUSEADDR lets the bind
// succeed beside the closed listener's connections in TIME_WAIT and the
// new listener bind beside the reservation.
func reservePort(addr *net.TCPAddr) (io.Closer, error) {
	ip4 := addr.IP.To4()
	if ip4 == nil {
		return nil, fmt.Errorf("reserve %s: not an IPv4 address", addr)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reserve %s: %w", addr, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("reserve %s: %w", addr, err)
	}
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], ip4)
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("reserve %s: %w", addr, err)
	}
	return socketFD(fd), nil
}

type socketFD int

func (fd socketFD) Close() error { return syscall.Close(int(fd)) }
