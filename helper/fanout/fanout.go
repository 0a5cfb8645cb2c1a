// Package fanout runs one command on many hosts at once over SSH, each host
// in its own goroutine: password sudo through the channel, output split
// into whole lines, every wait on a host bounded, and every host
// classified (ok, failed, unreachable, timed out, not started,
// interrupted).
package fanout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/ops-team/ops/helper/sshx"
)

// Status is a host's outcome.
type Status string

const (
	// OK: the command exited 0.
	OK Status = "ok"
	// Failed: the command exited non-zero or died of a signal, sudo
	// refused, or the connection was lost while it ran.
	Failed Status = "failed"
	// Unreachable: the host never answered the exec request (connect, key
	// exchange, authentication, session open, agent or exec request failed
	// or took longer than the connect timeout).
	Unreachable Status = "unreachable"
	// TimedOut: the command ran longer than the command timeout, or was
	// still running at the run's deadline.
	TimedOut Status = "timed-out"
	// NotStarted: the deadline or an interrupt came before the host's
	// command started.
	NotStarted Status = "not-started"
	// Interrupted: the command was running when the run was interrupted.
	Interrupted Status = "interrupted"
)

// Statuses lists every status, in the order a recap counts them.
var Statuses = []Status{OK, Failed, TimedOut, Unreachable, NotStarted, Interrupted}

// Target is one host to run on.
type Target struct {
	Name    string
	Addr    string // host:port
	User    string
	Signers []ssh.Signer // host-specific keys (ansible_ssh_private_key_file), tried first
	// HostKey checks the host's key (its StrictHostKeyChecking and
	// UserKnownHostsFile); nil: Options.HostKey.
	HostKey ssh.HostKeyCallback
	// HostKeyAlgorithms to ask the host for (those known_hosts holds for
	// it); nil: Options.HostKeyAlgorithms; empty: any.
	HostKeyAlgorithms []string
	// Become and BecomeUser override the run's for this host (Ansible's
	// ansible_become, ansible_become_user); nil, "": the run's.
	Become     *bool
	BecomeUser string
	// Jump are the hosts the target is reached through, in the order they
	// are connected (ProxyJump, -J): its TCP connection is a tunnel
	// through the last one. Targets behind the same hops share one
	// connection to each for the run.
	Jump []JumpHop
}

// Options describe the run.
type Options struct {
	Forks int
	// ConnectTimeout bounds each wait before the command starts: the TCP
	// connect with the key exchange and authentication, then the session
	// open, agent and exec requests together (10 s if 0).
	ConnectTimeout time.Duration
	CommandTimeout time.Duration           // after the exec request's reply; 0: none
	Deadline       time.Duration           // the whole run; 0: none
	Auth           func() []ssh.AuthMethod // for targets and jump hosts alike
	HostKey        ssh.HostKeyCallback     // for targets and hops that give none
	// HostKeyAlgorithms gives the host key algorithms to ask a target or hop
	// that gives none for, by its address (sshx.HostKeys.Algorithms); nil
	// or an empty answer: any.
	HostKeyAlgorithms func(addr string) []string
	Command           string // remote command line
	Stdin             []byte // sent after authentication (a script for its interpreter)
	Become            bool
	BecomeUser        string
	// BecomePassword answers sudo's prompt; nil runs sudo -n (no prompt).
	BecomePassword *string
	ForwardAgent   agent.Agent
	// Handshakes pins how many hosts may be in their handshake at once;
	// 0 adapts it to the handshake time (see gate), up to Forks.
	Handshakes int
	// OnLine receives every complete output line (without its newline;
	// valid only during the call); cut: it was longer than LineLimit and
	// only its start is given. Calls are serialised.
	OnLine func(host string, stderr bool, line []byte, cut bool)
	// OnDone receives each result as it is known, every host's once;
	// calls are serialised.
	OnDone func(Result)
	// Collect keeps each host's output in its Result, up to KeepLimit;
	// with ForgetOutput, only until OnDone has seen it (memory then does
	// not grow with the number of hosts).
	Collect      bool
	ForgetOutput bool
	LineLimit    int // DefaultLineLimit if 0
	KeepLimit    int // DefaultKeepLimit if 0
}

// Result is one host's outcome.
type Result struct {
	Host   string
	Status Status
	Exit   int    // the command's exit status; -1: none
	Error  string // why, when Status is not OK
	Stdout []byte
	Stderr []byte
	// Dropped counts output bytes not kept: the rest of cut lines and, with
	// Collect, what came after KeepLimit.
	Dropped  int64
	Duration time.Duration
}

// Causes of a host's end that are not the host's doing.
var (
	errConnectTimeout = errors.New("connect timeout")
	errCommandTimeout = errors.New("command timeout")
	errDeadline       = errors.New("the run's deadline")
)

// Run runs on every target, at most Forks at a time, and returns the results
// in target order. Cancelling ctx ends it: hosts not started are not
// started, running commands are signalled and their connections closed.
func Run(ctx context.Context, targets []Target, o Options) []Result {
	o = o.withDefaults()
	if o.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Deadline, errDeadline)
		defer cancel()
	}
	results := make([]Result, len(targets))
	var mu sync.Mutex // serialises OnLine and OnDone
	done := func(r Result) {
		if o.OnDone != nil {
			mu.Lock()
			o.OnDone(r)
			mu.Unlock()
		}
	}
	token := randomToken()
	sem := make(chan struct{}, o.Forks)
	g := newGate(o.Forks, o.Handshakes)
	jumps := newJumpPool(ctx, o)
	defer jumps.close()
	var wg sync.WaitGroup
	for i, t := range targets {
		var hs *slot
		if ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
				var err error
				if hs, err = g.acquire(ctx); err != nil {
					<-sem
				}
			case <-ctx.Done():
			}
		}
		if hs == nil {
			results[i] = notStarted(ctx, o, Result{Host: t.Name, Exit: -1}, "before it started")
			done(results[i])
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := runOne(ctx, t, o, token, &mu, hs, jumps)
			done(r)
			if o.ForgetOutput {
				r.Stdout, r.Stderr = nil, nil
			}
			results[i] = r
		}()
	}
	wg.Wait()
	return results
}

// withDefaults fills in the defaults of the fields left zero.
func (o Options) withDefaults() Options {
	if o.Forks < 1 {
		o.Forks = 1
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.LineLimit <= 0 {
		o.LineLimit = DefaultLineLimit
	}
	if o.KeepLimit <= 0 {
		o.KeepLimit = DefaultKeepLimit
	}
	return o
}

func randomToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// notStarted is the result of a host whose command the deadline or an
// interrupt kept from starting; when says where it was.
func notStarted(ctx context.Context, o Options, r Result, when string) Result {
	r.Status = NotStarted
	if errors.Is(context.Cause(ctx), errDeadline) {
		r.Error = fmt.Sprintf("the run's deadline (%s) came %s", o.Deadline, when)
	} else {
		r.Error = "interrupted " + when
	}
	return r
}

// runOne runs the command on one host: it dials, runs the command on the
// connection (session) and closes it. Every wait on the host ends when its
// connection closes, and one context decides when that happens: the
// connect timeout until the host answers the exec request, the command
// timeout after it, and the run's deadline and interrupt all along. Its
// cause then classifies the host.
func runOne(ctx context.Context, t Target, o Options, token string, mu *sync.Mutex, hs *slot, jumps *jumpPool) (r Result) {
	start := time.Now()
	r = Result{Host: t.Name, Exit: -1}
	defer func() { r.Duration = time.Since(start) }()
	h := newHostRun(ctx, t, forTarget(o, t), token, mu)
	defer h.end()
	h.timer.Reset(o.ConnectTimeout)
	hc, err := h.connect(hs, jumps, nil)
	if err != nil {
		return h.unreachable(r, err)
	}
	defer hc.sc.Close()
	r, _, _ = h.session(hc, r)
	return r
}

// forTarget gives the target's become settings precedence over the run's
// (as Ansible's ansible_become and ansible_become_user over the play's).
func forTarget(o Options, t Target) Options {
	if t.Become != nil {
		o.Become = *t.Become
	}
	if t.BecomeUser != "" {
		o.BecomeUser = t.BecomeUser
	}
	return o
}

// hostRun is one command on one host: its bounds and what it runs.
type hostRun struct {
	ctx    context.Context // the run's: deadline and interrupt
	hctx   context.Context // the host's: ends with any of its bounds
	cancel context.CancelCauseFunc
	// timer is the bound now running: the connect timeout (stopped until
	// a phase arms it), then the command timeout.
	timer *time.Timer
	t     Target
	o     Options // with the command's fields
	token string
	mu    *sync.Mutex // serialises OnLine
}

func newHostRun(ctx context.Context, t Target, o Options, token string, mu *sync.Mutex) *hostRun {
	h := &hostRun{ctx: ctx, t: t, o: o, token: token, mu: mu}
	h.hctx, h.cancel = context.WithCancelCause(ctx)
	h.timer = time.AfterFunc(time.Hour, func() { h.cancel(errConnectTimeout) })
	h.timer.Stop()
	return h
}

// end releases the host's bounds.
func (h *hostRun) end() {
	h.timer.Stop()
	h.cancel(nil)
}

// connect dials within the host's bounds (the caller arms the connect
// timeout), through the handshake slot hs, and starts serving the
// connection.
func (h *hostRun) connect(hs *slot, jumps *jumpPool, onEnd func(*hostConn)) (*hostConn, error) {
	conn, sc, chans, reqs, err := dial(h.hctx, h.t, h.o, hs, jumps)
	hs.done(err == nil)
	if err != nil {
		return nil, err
	}
	return newHostConn(conn, sc, chans, reqs, h.o.ForwardAgent, onEnd), nil
}

// unreachable classifies a failed connect.
func (h *hostRun) unreachable(r Result, err error) Result {
	waiting := h.t.Addr + ": no SSH handshake"
	var je *jumpError
	if errors.As(err, &je) && je.waiting != "" {
		waiting = je.waiting
	}
	return beforeCommand(h.ctx, h.hctx, h.o, r, waiting, err)
}

// session runs the command over hc. The session set-up (open, agent and
// exec requests) gets a connect timeout of its own, the command the
// command timeout; when a bound fires, the connection is closed (after
// asking the command to stop, if it was interrupted). kept: the connection
// is fit for another command (no bound fired, the session closed, the
// connection is up). lost: the connection was found dead before the host
// answered the session open, within the host's bounds (it may be dialled
// again); r is then the host's result if it is not.
func (h *hostRun) session(hc *hostConn, r Result) (_ Result, kept, lost bool) {
	t, o := h.t, h.o
	var running atomic.Bool
	var session ssh.Channel
	stop := context.AfterFunc(h.hctx, func() {
		if running.Load() && h.ctx.Err() != nil {
			// Interrupted: ask the command to stop, briefly (a host that
			// reads nothing must not hold the close).
			sent := make(chan struct{})
			go func() {
				_, _ = session.SendRequest("signal", false, ssh.Marshal(struct{ Signal string }{"INT"}))
				close(sent)
			}()
			select {
			case <-sent:
			case <-time.After(100 * time.Millisecond):
			}
		}
		hc.conn.Close()
	})
	defer func() {
		h.timer.Stop()
		if !stop() || hc.ended() {
			kept = false
		}
	}()
	h.timer.Reset(o.ConnectTimeout)
	openFailed := func(err error) (Result, bool, bool) {
		var refused *ssh.OpenChannelError
		lost := h.hctx.Err() == nil && !errors.As(err, &refused)
		return beforeCommand(h.ctx, h.hctx, o, r, t.Addr+": no answer to the session open", fmt.Errorf("%s: session: %v", t.Addr, err)), false, lost
	}
	if hc.ended() {
		return openFailed(errors.New("the connection was lost"))
	}
	ch, chReqs, err := hc.sc.OpenChannel("session", nil)
	if err != nil {
		if err == io.EOF {
			err = errors.New("the connection was lost")
		}
		return openFailed(err)
	}
	w := newSessionWatch(chReqs)
	hc.watch(w)
	defer ch.Close()
	if o.ForwardAgent != nil {
		if _, err := ch.SendRequest("auth-agent-req@openssh.com", true, nil); err != nil {
			return beforeCommand(h.ctx, h.hctx, o, r, t.Addr+": no answer to the agent request", fmt.Errorf("%s: agent request: %v", t.Addr, err)), false, false
		}
	}
	okExec, err := ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{wrap(o, h.token)}))
	if err != nil {
		return beforeCommand(h.ctx, h.hctx, o, r, t.Addr+": no answer to the exec request", fmt.Errorf("%s: exec request: %v", t.Addr, err)), false, false
	}
	if !okExec {
		r.Status, r.Error = Failed, "start: the host refused the command"
		return r, true, false
	}
	// The host answered: from here the command timeout bounds the wait.
	// A timer that already fired may not have cancelled yet: wait for it,
	// and let its cause (or the run's) classify the host.
	if !h.timer.Stop() {
		<-h.hctx.Done()
	}
	if h.hctx.Err() != nil {
		return beforeCommand(h.ctx, h.hctx, o, r, t.Addr+": no answer to the exec request", fmt.Errorf("%s: exec request: %v", t.Addr, context.Cause(h.hctx))), false, false
	}
	if o.CommandTimeout > 0 {
		h.timer = time.AfterFunc(o.CommandTimeout, func() { h.cancel(errCommandTimeout) })
	}
	session = ch
	running.Store(true)

	var keepOut *keep
	if o.Collect {
		keepOut = &keep{room: o.KeepLimit}
	}
	emit := func(stderr bool) func([]byte, bool) {
		return func(line []byte, cut bool) {
			if keepOut != nil {
				keepOut.add(stderr, line, cut)
			}
			if o.OnLine != nil {
				h.mu.Lock()
				o.OnLine(t.Name, stderr, line, cut)
				h.mu.Unlock()
			}
		}
	}
	stdout := newLines(o.LineLimit, emit(false))
	become := &becomeWatch{token: h.token, stdin: channelStdin{ch}, body: o.Stdin, active: o.Become}
	stderr := newLines(o.LineLimit, emit(true))
	stderr.filter = become.line
	if o.Become && o.BecomePassword != nil {
		become.password = *o.BecomePassword
		stderr.prompt, stderr.promptSpan = become.partial, become.span()
	}
	stderrDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(stderr, ch.Stderr())
		close(stderrDone)
	}()
	if !o.Become {
		become.sendBody()
	}
	_, _ = io.Copy(stdout, ch)
	<-stderrDone
	ex, closed := waitExit(w.exit, w.status)
	stdout.flush()
	stderr.flush()
	r.Dropped = stdout.dropped + stderr.dropped
	if keepOut != nil {
		r.Stdout, r.Stderr = keepOut.stdout.Bytes(), keepOut.stderr.Bytes()
		r.Dropped += keepOut.dropped
	}
	switch cause := context.Cause(h.hctx); {
	case become.rejected:
		r.Status, r.Error = Failed, "the become password was rejected"
	case ex.got && ex.status == 0:
		r.Status, r.Exit = OK, 0
	case ex.got:
		r.Status, r.Exit = Failed, ex.status
		if ex.signal != "" {
			r.Error = "killed by SIG" + ex.signal
		}
	case errors.Is(cause, errCommandTimeout):
		r.Status, r.Error = TimedOut, fmt.Sprintf("command timed out after %s", o.CommandTimeout)
	case errors.Is(cause, errDeadline):
		r.Status, r.Error = TimedOut, fmt.Sprintf("still running at the run's deadline (%s)", o.Deadline)
	case h.ctx.Err() != nil:
		r.Status, r.Error = Interrupted, "interrupted while running"
	default:
		r.Status, r.Error = Failed, "connection lost: the host gave no exit status"
	}
	return r, closed && h.hctx.Err() == nil, false
}

// exitGrace is how long a host that gave its exit status and closed its
// output has to close the session before ops stops waiting for it.
const exitGrace = time.Second

// waitExit waits for the session to close (or the connection, with the
// host's bounds), and no longer than exitGrace once the host has given
// its exit status: then that status stands (closed is false), and the
// connection is to be closed.
func waitExit(exit, status <-chan exitInfo) (_ exitInfo, closed bool) {
	var got exitInfo
	select {
	case ex := <-exit:
		return ex, true
	case got = <-status:
	}
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case ex := <-exit:
		return ex, true
	case <-t.C:
		return got, false
	}
}

// beforeCommand classifies a host that failed before its command started:
// by the run's deadline or interrupt (not started), by the connect timeout
// (unreachable: what it was waiting for), or by its own error.
func beforeCommand(ctx, hctx context.Context, o Options, r Result, waiting string, err error) Result {
	switch {
	case ctx.Err() != nil:
		return notStarted(ctx, o, r, "before its command started")
	case errors.Is(context.Cause(hctx), errConnectTimeout):
		r.Status, r.Error = Unreachable, fmt.Sprintf("%s within %s", waiting, o.ConnectTimeout)
	default:
		r.Status, r.Error = Unreachable, err.Error()
	}
	return r
}

// clientConfig is the SSH client config of a target or jump host: its own
// keys first, then the run's; its own host key check and algorithms, or
// the run's.
func clientConfig(user string, signers []ssh.Signer, hostKey ssh.HostKeyCallback, algs []string, addr string, o Options) *ssh.ClientConfig {
	var auth []ssh.AuthMethod
	if len(signers) > 0 {
		auth = append(auth, ssh.PublicKeys(signers...))
	}
	if o.Auth != nil {
		auth = append(auth, o.Auth()...)
	}
	if hostKey == nil {
		hostKey = o.HostKey
	}
	if algs == nil && o.HostKeyAlgorithms != nil {
		algs = o.HostKeyAlgorithms(addr)
	}
	if len(algs) == 0 {
		algs = nil
	}
	return &ssh.ClientConfig{User: user, Auth: auth, HostKeyCallback: hostKey, HostKeyAlgorithms: algs, ClientVersion: "SSH-2.0-ops-exec"}
}

// dial connects (directly, or through the target's jump hosts) and
// authenticates; closing the connection (which the host's context does
// when a bound fires) ends the wait.
func dial(ctx context.Context, t Target, o Options, hs *slot, jumps *jumpPool) (net.Conn, ssh.Conn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	cfg := clientConfig(t.User, t.Signers, t.HostKey, t.HostKeyAlgorithms, t.Addr, o)
	var conn net.Conn
	var err error
	if len(t.Jump) > 0 {
		if conn, err = jumps.tunnel(ctx, t.Jump, t.Addr); err != nil {
			return nil, nil, nil, nil, err
		}
	} else if conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", t.Addr); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("connect %s: %v", t.Addr, sshx.UnwrapNetError(err))
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(sshx.ReadBuffered(hs.watch(conn)), t.Addr, cfg)
	stop()
	if err != nil {
		conn.Close()
		return nil, nil, nil, nil, fmt.Errorf("%s: %v", t.Addr, strings.TrimPrefix(err.Error(), "ssh: handshake failed: "))
	}
	return conn, sc, chans, reqs, nil
}
