package sshx

import (
	"bufio"
	"net"
)

// ReadBuffered wraps conn so that reads go through a small buffer.
// x/crypto/ssh reads the peer's version line one byte per Read, which on a
// bare socket is one system call per byte (about 40 for OpenSSH's line);
// through the buffer it is one. Reads at least as large as the buffer,
// which is what the SSH transport does after the version line, bypass it.
func ReadBuffered(conn net.Conn) net.Conn {
	return &readBuffered{Conn: conn, r: bufio.NewReaderSize(conn, 256)}
}

type readBuffered struct {
	net.Conn
	r *bufio.Reader
}

func (c *readBuffered) Read(p []byte) (int, error) { return c.r.Read(p) }
