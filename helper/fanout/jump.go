package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/ops-team/ops/helper/sshx"
)

// JumpHop is one SSH host a target is reached through (ProxyJump, -J).
type JumpHop struct {
	Addr    string // host:port
	User    string
	Signers []ssh.Signer // tried before Options.Auth
	// HostKey checks the hop's key; nil: Options.HostKey.
	HostKey ssh.HostKeyCallback
	// HostKeyAlgorithms to ask the hop for; nil: Options.HostKeyAlgorithms.
	HostKeyAlgorithms []string
}

func (h JumpHop) name() string { return h.User + "@" + h.Addr }

// jumpPool holds the run's connections to jump hosts: one per chain of
// hops (targets behind one jump host share it), opened by the first target
// that needs it, bounded by the connect timeout and the run, and closed
// when the run ends. A failed dial is kept: the targets behind it fail at
// once rather than dial again; a connection that ended is dialled again by
// the next target that needs it.
type jumpPool struct {
	ctx    context.Context // ends with the run
	cancel context.CancelFunc
	o      Options

	mu     sync.Mutex
	m      map[string]*jumpConn
	closed bool
}

type jumpConn struct {
	hop    JumpHop
	ready  chan struct{} // closed when the dial ended; then client or err
	ended  chan struct{} // closed when the connection ends (after ready, with a client)
	client *ssh.Client
	err    error
}

func newJumpPool(ctx context.Context, o Options) *jumpPool {
	ctx, cancel := context.WithCancel(ctx)
	return &jumpPool{ctx: ctx, cancel: cancel, o: o, m: map[string]*jumpConn{}}
}

// jumpError is a target that its jump host kept from being reached.
type jumpError struct {
	hop     string
	waiting string // what the target waited for, when its own bound fired
	err     error
}

func (e *jumpError) Error() string { return "jump host " + e.hop + ": " + e.err.Error() }
func (e *jumpError) Unwrap() error { return e.err }

// tunnel opens a connection to addr through the chain's last hop, dialling
// the hops not yet connected. Every wait ends with ctx (the target's).
func (p *jumpPool) tunnel(ctx context.Context, chain []JumpHop, addr string) (net.Conn, error) {
	var via *ssh.Client
	for i := range chain {
		jc := p.get(chain[:i+1], via)
		select {
		case <-jc.ready:
		case <-ctx.Done():
			return nil, &jumpError{hop: jc.hop.name(), waiting: "jump host " + jc.hop.name() + ": no SSH handshake", err: context.Cause(ctx)}
		}
		if jc.err != nil {
			// Its own bound may fire as the jump host's dial fails: either
			// way the jump host is what it waited for.
			return nil, &jumpError{hop: jc.hop.name(), waiting: "jump host " + jc.hop.name() + ": no SSH handshake", err: jc.err}
		}
		via = jc.client
	}
	last := chain[len(chain)-1].name()
	c, err := via.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &jumpError{hop: last, waiting: "jump host " + last + ": no answer to the tunnel open to " + addr, err: context.Cause(ctx)}
		}
		return nil, &jumpError{hop: last, err: fmt.Errorf("tunnel to %s: %v", addr, err)}
	}
	return newTunnel(c), nil
}

// get gives the connection of the chain's last hop, starting its dial
// (through via, the hop before) if there is none or it ended.
func (p *jumpPool) get(chain []JumpHop, via *ssh.Client) *jumpConn {
	var key strings.Builder
	for _, h := range chain {
		key.WriteString(h.name())
		key.WriteByte('>')
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	jc := p.m[key.String()]
	if jc != nil && !jc.isEnded() {
		return jc
	}
	jc = &jumpConn{hop: chain[len(chain)-1], ready: make(chan struct{}), ended: make(chan struct{})}
	p.m[key.String()] = jc
	go p.dial(jc, via)
	return jc
}

func (jc *jumpConn) isEnded() bool {
	select {
	case <-jc.ready:
	default:
		return false
	}
	if jc.err != nil {
		return false
	}
	select {
	case <-jc.ended:
		return true
	default:
		return false
	}
}

// dial connects to a hop (directly, or through via) within the connect
// timeout and the run.
func (p *jumpPool) dial(jc *jumpConn, via *ssh.Client) {
	ctx, cancel := context.WithTimeoutCause(p.ctx, p.o.ConnectTimeout, errConnectTimeout)
	defer cancel()
	client, err := p.connect(ctx, jc.hop, via)
	p.mu.Lock()
	if err == nil && p.closed {
		client.Close()
		client, err = nil, errors.New("the run ended")
	}
	jc.client, jc.err = client, err
	p.mu.Unlock()
	close(jc.ready)
	if client != nil {
		go func() { _ = client.Wait(); close(jc.ended) }()
	}
}

func (p *jumpPool) connect(ctx context.Context, hop JumpHop, via *ssh.Client) (*ssh.Client, error) {
	var conn net.Conn
	var err error
	if via == nil {
		if conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", hop.Addr); err != nil {
			if errors.Is(context.Cause(ctx), errConnectTimeout) {
				return nil, fmt.Errorf("no TCP connection within %s", p.o.ConnectTimeout)
			}
			return nil, fmt.Errorf("connect %s: %v", hop.Addr, sshx.UnwrapNetError(err))
		}
	} else {
		c, err := via.DialContext(ctx, "tcp", hop.Addr)
		if err != nil {
			if errors.Is(context.Cause(ctx), errConnectTimeout) {
				return nil, fmt.Errorf("no answer to the tunnel open within %s", p.o.ConnectTimeout)
			}
			return nil, fmt.Errorf("tunnel to %s: %v", hop.Addr, err)
		}
		conn = newTunnel(c)
	}
	cfg := clientConfig(hop.User, hop.Signers, hop.HostKey, hop.HostKeyAlgorithms, hop.Addr, p.o)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(sshx.ReadBuffered(conn), hop.Addr, cfg)
	if !stop() {
		// The bound fired: the connection is closed, whatever came of it.
		if err == nil {
			sc.Close()
		}
		if errors.Is(context.Cause(ctx), errConnectTimeout) {
			return nil, fmt.Errorf("no SSH handshake within %s", p.o.ConnectTimeout)
		}
		return nil, context.Cause(ctx)
	}
	if err != nil {
		conn.Close()
		return nil, errors.New(strings.TrimPrefix(err.Error(), "ssh: handshake failed: "))
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// forgetFailed lets the hops whose dial failed be dialled again by the
// next target that needs them (a Pool's next RunAll).
func (p *jumpPool) forgetFailed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, jc := range p.m {
		select {
		case <-jc.ready:
			if jc.err != nil {
				delete(p.m, k)
			}
		default:
		}
	}
}

// close ends the dials in flight and closes every jump connection.
func (p *jumpPool) close() {
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, jc := range p.m {
		if jc.client != nil {
			jc.client.Close()
		}
	}
}

// tunnel is a connection through a jump host (a direct-tcpip channel)
// whose Close ends the waits on it at once. An SSH channel's Close only
// asks the jump host to close it, and reads and writes wait for the
// answer, which a frozen jump host never gives: so reads come from a
// goroutine that copies the channel into a pipe, and writes go through
// another goroutine. Both end with the channel: at the latest when the run
// closes the jump connection.
type tunnel struct {
	net.Conn // the channel
	pr       *io.PipeReader
	wmu      sync.Mutex
	writes   chan []byte
	wrote    chan error
	done     chan struct{}
	once     sync.Once
}

func newTunnel(c net.Conn) *tunnel {
	pr, pw := io.Pipe()
	t := &tunnel{Conn: c, pr: pr, writes: make(chan []byte), wrote: make(chan error, 1), done: make(chan struct{})}
	go func() {
		_, err := io.Copy(pw, c)
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
	}()
	go func() {
		for {
			select {
			case b := <-t.writes:
				_, err := c.Write(b)
				t.wrote <- err
			case <-t.done:
				return
			}
		}
	}()
	return t
}

func (t *tunnel) Read(p []byte) (int, error) { return t.pr.Read(p) }

func (t *tunnel) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	// A copy: after Close, the write may still be under way.
	b := append([]byte(nil), p...)
	select {
	case t.writes <- b:
	case <-t.done:
		return 0, net.ErrClosed
	}
	select {
	case err := <-t.wrote:
		if err != nil {
			return 0, err
		}
		return len(p), nil
	case <-t.done:
		return 0, net.ErrClosed
	}
}

// Close ends reads and writes at once and asks the jump host to close the
// channel, without waiting for it.
func (t *tunnel) Close() error {
	t.once.Do(func() {
		close(t.done)
		t.pr.CloseWithError(net.ErrClosed)
		go t.Conn.Close()
	})
	return nil
}
