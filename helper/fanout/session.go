package fanout

import (
	"encoding/binary"
	"errors"
	"io"
	"net"

	"github.com/ops-team/ops/helper/sshx"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// A host's connection is driven without ssh.Client and ssh.Session: those
// start seven goroutines per host besides the transport's three (global
// requests, channel opens, a closer, the session's requests, a copy per
// stream, a waiter). Here one goroutine (serve) answers the host for the
// connection's life, the command's own goroutine reads stdout and one
// more reads stderr. At a thousand open sessions that is 6,000 goroutines
// instead of 11,000; a connection a Pool keeps idle costs four (the
// transport's three and serve).

// exitInfo is how the command ended, from the session's requests.
type exitInfo struct {
	status int    // exit status; 128+n after signal n, as a shell reports it
	signal string // "KILL", … when the command died of a signal
	got    bool   // the host said either
}

// agentChannels caps the forwarded-agent channels one host may hold open.
const agentChannels = 4

// hostConn is one host's authenticated connection and the goroutine
// (serve) that answers it until it ends.
type hostConn struct {
	conn   net.Conn // closing it ends every wait on the host
	sc     ssh.Conn
	attach chan *sessionWatch // hands serve a session's requests
	served chan struct{}      // closed when serve returns: the connection ended

	// A Pool's bookkeeping, under Pool.mu.
	key        string
	busy       int  // commands using it
	counted    bool // in Pool.open
	idle       bool // in the idle list
	prev, next *hostConn
}

// newHostConn starts serving an authenticated connection; onEnd (if not
// nil) is called once serve has returned.
func newHostConn(conn net.Conn, sc ssh.Conn, chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request, fwd agent.Agent, onEnd func(*hostConn)) *hostConn {
	hc := &hostConn{conn: conn, sc: sc, attach: make(chan *sessionWatch), served: make(chan struct{})}
	go func() {
		serve(chans, reqs, hc.attach, fwd)
		close(hc.served)
		if onEnd != nil {
			onEnd(hc)
		}
	}()
	return hc
}

// ended reports whether the connection has ended (as far as serve knows).
func (hc *hostConn) ended() bool {
	select {
	case <-hc.served:
		return true
	default:
		return false
	}
}

// watch has the session's requests read: by serve, or, once the
// connection has ended, by a goroutine of their own (they are closed).
func (hc *hostConn) watch(w *sessionWatch) {
	select {
	case hc.attach <- w:
	case <-hc.served:
		go w.drain()
	}
}

// sessionWatch reads one session's requests for its exit: sent on status
// (buffered) as soon as the host says it, and on exit (buffered) when the
// session channel closes.
type sessionWatch struct {
	reqs   <-chan *ssh.Request
	ex     exitInfo
	status chan exitInfo
	exit   chan exitInfo
}

func newSessionWatch(reqs <-chan *ssh.Request) *sessionWatch {
	return &sessionWatch{reqs: reqs, ex: exitInfo{status: -1}, status: make(chan exitInfo, 1), exit: make(chan exitInfo, 1)}
}

func (w *sessionWatch) handle(r *ssh.Request) {
	switch r.Type {
	case "exit-status":
		var m struct{ Status uint32 }
		if ssh.Unmarshal(r.Payload, &m) == nil {
			w.ex.status, w.ex.got = int(m.Status), true
		}
	case "exit-signal":
		var m struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}
		if ssh.Unmarshal(r.Payload, &m) == nil {
			w.ex.signal, w.ex.got = m.Signal, true
			if w.ex.status == -1 {
				w.ex.status = sshx.SignalStatus(m.Signal)
			}
		}
	}
	if w.ex.got {
		select { // the first word of the exit, for a host that then stalls
		case w.status <- w.ex:
		default:
		}
	}
	if r.WantReply {
		_ = r.Reply(false, nil)
	}
}

// end: the session channel closed.
func (w *sessionWatch) end() { w.exit <- w.ex }

func (w *sessionWatch) drain() {
	for r := range w.reqs {
		w.handle(r)
	}
	w.end()
}

// serve answers what the host sends until the connection ends: global
// requests (keepalives) are answered no, channels refused but a forwarded
// agent's when fwd is set (at most agentChannels at once), and the
// requests of each session that attach hands over go to its watch, so
// that each session gets its own exit. It reads one session's requests
// itself (one command at a time on a connection is the rule); a session
// attached while another is open gets a goroutine of its own until it
// closes. It needs no bound of its own: every channel it reads closes
// with the connection.
func serve(chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request, attach <-chan *sessionWatch, fwd agent.Agent) {
	var session *sessionWatch
	var sessionReqs <-chan *ssh.Request
	agents := make(chan struct{}, agentChannels)
	for chans != nil || reqs != nil || session != nil {
		select {
		case w := <-attach:
			if session != nil {
				go w.drain()
			} else {
				session, sessionReqs = w, w.reqs
			}
		case r, ok := <-reqs:
			if !ok {
				reqs = nil
			} else if r.WantReply {
				_ = r.Reply(false, nil)
			}
		case nc, ok := <-chans:
			switch {
			case !ok:
				chans = nil
			case nc.ChannelType() == "auth-agent@openssh.com" && fwd != nil:
				select {
				case agents <- struct{}{}:
				default:
					_ = nc.Reject(ssh.ResourceShortage, "too many agent channels")
					continue
				}
				ch, creqs, err := nc.Accept()
				if err != nil {
					<-agents
					continue
				}
				go ssh.DiscardRequests(creqs)
				go func() { _ = agent.ServeAgent(fwd, &agentStream{rw: ch}); ch.Close(); <-agents }()
			default:
				_ = nc.Reject(ssh.Prohibited, "ops exec accepts no channels")
			}
		case r, ok := <-sessionReqs:
			if !ok {
				session.end()
				session, sessionReqs = nil, nil
				continue
			}
			session.handle(r)
		}
	}
}

// channelStdin is the session's stdin: writes go to the channel, Close
// sends EOF.
type channelStdin struct{ ch ssh.Channel }

func (c channelStdin) Write(p []byte) (int, error) { return c.ch.Write(p) }
func (c channelStdin) Close() error                { return c.ch.CloseWrite() }

// maxAgentMessage is the largest agent message a target may send (as
// OpenSSH's agent, 256 KiB): agent.ServeAgent allocates what a message's
// length prefix says, up to 16 MiB, before reading it.
const maxAgentMessage = 256 << 10

var errAgentMessage = errors.New("agent message over 256 KiB")

// agentStream checks each agent message's length prefix before
// agent.ServeAgent sees it.
type agentStream struct {
	rw   io.ReadWriter
	hdr  [4]byte
	have int // bytes of the length prefix read
	left int // bytes of the message still to come
}

func (a *agentStream) Write(p []byte) (int, error) { return a.rw.Write(p) }

func (a *agentStream) Read(p []byte) (int, error) {
	if a.left > 0 {
		n, err := a.rw.Read(p[:min(len(p), a.left)])
		a.left -= n
		return n, err
	}
	p = p[:min(len(p), 4-a.have)]
	n, err := a.rw.Read(p)
	copy(a.hdr[a.have:], p[:n])
	if a.have += n; a.have == 4 {
		a.have = 0
		l := binary.BigEndian.Uint32(a.hdr[:])
		if l > maxAgentMessage {
			return n, errAgentMessage
		}
		a.left = int(l)
	}
	return n, err
}
