//go:build unix

package server_test

import (
	"syscall"
)

// smallBuffers is a net.Dialer / net.ListenConfig Control that shrinks the
// socket's buffers before it connects or listens (accepted sockets inherit
// them), so that a peer that stops reading fills them after a few frames.
func smallBuffers(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		for _, opt := range []int{syscall.SO_SNDBUF, syscall.SO_RCVBUF} {
			if e := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 4096); e != nil {
				serr = e
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}
