package sshx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Dialer connects to destinations.
type Dialer struct {
	Resolver  *Resolver
	HostKeys  *HostKeys
	AgentSock string        // "" : no agent
	Timeout   time.Duration // connect + handshake; 15s when zero
	KeepAlive time.Duration // probe interval; the link is dropped after 3 unanswered probes; 0: none
	Log       io.Writer
}

// Client is a connection, and the jump hosts it goes through.
type Client struct {
	*ssh.Client
	Dest    Dest
	Agent   agent.ExtendedAgent // the local agent, if any
	closers []io.Closer
	done    chan struct{}
}

// Done is closed when the connection has ended (closed, dropped, or given
// up by the keepalive).
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the connection, then its jump hosts and the agent connection.
func (c *Client) Close() error {
	err := c.Client.Close()
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i].Close()
	}
	return err
}

// UnreachableError is a destination that could not be reached.
type UnreachableError struct {
	Dest string
	Err  error
}

func (e *UnreachableError) Error() string { return fmt.Sprintf("cannot reach %s: %v", e.Dest, e.Err) }
func (e *UnreachableError) Unwrap() error { return e.Err }

// AuthError is a server that refused every key offered.
type AuthError struct {
	Dest    string
	Offered string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s refused our keys (%s)", e.Dest, e.Offered)
}

// Dial resolves dest and connects, through its ProxyJump hosts if any.
func (d *Dialer) Dial(ctx context.Context, dest string) (*Client, error) {
	rd, err := d.Resolver.Resolve(dest)
	if err != nil {
		return nil, err
	}
	return d.dialResolved(ctx, rd)
}

func (d *Dialer) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return 15 * time.Second
}

func (d *Dialer) dialResolved(ctx context.Context, rd Dest) (*Client, error) {
	c := &Client{Dest: rd}
	ok := false
	defer func() {
		if !ok {
			for i := len(c.closers) - 1; i >= 0; i-- {
				c.closers[i].Close()
			}
		}
	}()
	if err := d.HostKeys.Check(); err != nil {
		return nil, err
	}
	auth, offered, err := d.authMethods(c, rd)
	if err != nil {
		return nil, err
	}
	var conn net.Conn
	if len(rd.ProxyJump) > 0 {
		jump, err := d.Dial(ctx, strings.TrimSpace(rd.ProxyJump[0]))
		if err != nil {
			return nil, fmt.Errorf("jump host %s: %w", rd.ProxyJump[0], err)
		}
		c.closers = append(c.closers, jump)
		// Further jumps: each one is reached through the previous.
		for _, j := range rd.ProxyJump[1:] {
			jd, err := d.Resolver.Resolve(strings.TrimSpace(j))
			if err != nil {
				return nil, err
			}
			next, err := d.handshake(ctx, jump, jd)
			if err != nil {
				return nil, err
			}
			c.closers = append(c.closers, next)
			jump = next
		}
		dctx, cancel := context.WithTimeout(ctx, d.timeout())
		conn, err = jump.DialContext(dctx, "tcp", rd.Addr())
		cancel()
		if err != nil {
			return nil, &UnreachableError{Dest: rd.String(), Err: err}
		}
	} else {
		nd := net.Dialer{Timeout: d.timeout(), KeepAlive: 30 * time.Second}
		conn, err = nd.DialContext(ctx, "tcp", rd.Addr())
		if err != nil {
			return nil, &UnreachableError{Dest: rd.String(), Err: UnwrapNetError(err)}
		}
	}
	if err := d.handshakeOver(ctx, c, conn, auth, offered); err != nil {
		return nil, err
	}
	if d.KeepAlive > 0 {
		go keepAlive(c.Client, d.KeepAlive)
	}
	ok = true
	return c, nil
}

// handshake opens an SSH connection to rd through an existing client.
func (d *Dialer) handshake(ctx context.Context, via *Client, rd Dest) (*Client, error) {
	c := &Client{Dest: rd}
	auth, offered, err := d.authMethods(c, rd)
	if err == nil {
		var conn net.Conn
		if conn, err = via.DialContext(ctx, "tcp", rd.Addr()); err != nil {
			err = &UnreachableError{Dest: rd.String(), Err: err}
		} else {
			err = d.handshakeOver(ctx, c, conn, auth, offered)
		}
	}
	if err != nil {
		for i := len(c.closers) - 1; i >= 0; i-- {
			c.closers[i].Close()
		}
		return nil, err
	}
	return c, nil
}

// handshakeOver runs the SSH handshake on conn for c.Dest (host key
// checked, auth offered) and makes c the client; conn is closed on failure.
func (d *Dialer) handshakeOver(ctx context.Context, c *Client, conn net.Conn, auth []ssh.AuthMethod, offered string) error {
	rd := c.Dest
	cfg := &ssh.ClientConfig{
		User:              rd.User,
		Auth:              auth,
		HostKeyCallback:   d.HostKeys.Callback(),
		HostKeyAlgorithms: d.HostKeys.Algorithms(rd.Addr()),
		Timeout:           d.timeout(),
		ClientVersion:     "SSH-2.0-ops",
	}
	_ = conn.SetDeadline(time.Now().Add(d.timeout()))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(ReadBuffered(conn), rd.Addr(), cfg)
	stop()
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ck *ChangedKeyError
		var uk *UnknownKeyError
		if errors.As(err, &ck) {
			return ck
		}
		if errors.As(err, &uk) {
			return uk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return &AuthError{Dest: rd.String(), Offered: offered}
		}
		return &UnreachableError{Dest: rd.String(), Err: err}
	}
	_ = conn.SetDeadline(time.Time{})
	c.Client = ssh.NewClient(sc, chans, reqs)
	c.done = make(chan struct{})
	go func() { _ = c.Client.Wait(); close(c.done) }()
	return nil
}

// UnwrapNetError drops the net and syscall wrappers of a dial error, so
// that messages say "connection refused", not "dial tcp …: connect: …".
func UnwrapNetError(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// authMethods: the agent's keys first, then identity files that exist and
// are not protected by a passphrase.
func (d *Dialer) authMethods(c *Client, rd Dest) ([]ssh.AuthMethod, string, error) {
	var methods []ssh.AuthMethod
	var offered []string
	if d.AgentSock != "" {
		conn, err := net.Dial("unix", d.AgentSock)
		if err != nil {
			return nil, "", fmt.Errorf("SSH agent at %s: %v", d.AgentSock, UnwrapNetError(err))
		}
		c.closers = append(c.closers, conn)
		ag := agent.NewClient(conn)
		c.Agent = ag
		keys, err := ag.List()
		if err != nil {
			return nil, "", fmt.Errorf("SSH agent at %s: %v", d.AgentSock, err)
		}
		if len(keys) > 0 {
			methods = append(methods, ssh.PublicKeysCallback(ag.Signers))
			offered = append(offered, fmt.Sprintf("%d agent key(s)", len(keys)))
		}
	}
	files := rd.IdentityFiles
	if len(files) == 0 {
		if home, err := os.UserHomeDir(); err == nil {
			for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
				files = append(files, filepath.Join(home, ".ssh", n))
			}
		}
	}
	var signers []ssh.Signer
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			var pe *ssh.PassphraseMissingError
			if errors.As(err, &pe) && d.Log != nil {
				fmt.Fprintf(d.Log, "ops: %s needs a passphrase; add it to your agent (ssh-add)\n", f)
			}
			continue
		}
		signers = append(signers, s)
		offered = append(offered, f)
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	if len(methods) == 0 {
		if d.AgentSock == "" {
			return nil, "", errors.New("no SSH key: SSH_AUTH_SOCK is unset and no identity file was found")
		}
		return nil, "", fmt.Errorf("no SSH key: the agent at %s holds none and no identity file was found (ssh-add your key)", d.AgentSock)
	}
	return methods, strings.Join(offered, ", "), nil
}

// keepAlive closes the connection when the server stops answering: a
// frozen link (packets dropped, nothing closed) ends within 3 intervals.
func keepAlive(c *ssh.Client, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	missed := 0
	for range t.C {
		done := make(chan error, 1)
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				return // closed
			}
			missed = 0
		case <-time.After(every):
			missed++
			if missed >= 2 {
				c.Close()
				return
			}
		}
	}
}
