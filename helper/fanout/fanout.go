// Package fanout runs one command on many hosts at once over SSH, each host
// in its own goroutine: password sudo through the channel, output split
// into whole lines, and every host classified as ok, failed or unreachable.
package fanout

import (
	"bytes"
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
	OK          Status = "ok"
	Failed      Status = "failed"
	Unreachable Status = "unreachable"
)

// Target is one host to run on.
type Target struct {
	Name    string
	Addr    string // host:port
	User    string
	Signers []ssh.Signer // host-specific keys (ansible_ssh_private_key_file), tried first
}

// Options describe the run.
type Options struct {
	Forks          int
	ConnectTimeout time.Duration
	CommandTimeout time.Duration // 0: none
	Auth           func() []ssh.AuthMethod
	HostKey        ssh.HostKeyCallback
	Command        string // remote command line
	Stdin          []byte // sent after authentication (a script for its interpreter)
	Become         bool
	BecomeUser     string
	BecomePassword string
	ForwardAgent   agent.Agent
	// Handshakes pins how many hosts may be in their handshake at once;
	// 0 adapts it to the handshake time (see gate), up to Forks.
	Handshakes int
	// OnLine receives every complete output line; calls are serialised.
	OnLine func(host string, stderr bool, line []byte)
	// OnDone receives each result as it is known; calls are serialised.
	OnDone func(Result)
	// Collect keeps each host's output in its Result.
	Collect bool
}

// Result is one host's outcome.
type Result struct {
	Host     string
	Status   Status
	Exit     int    // the command's exit status (failed and ok)
	Error    string // why, for failed without an exit status and unreachable
	Stdout   []byte
	Stderr   []byte
	Duration time.Duration
}

// Run runs on every target, at most Forks at a time, and returns the results
// in target order.
func Run(ctx context.Context, targets []Target, o Options) []Result {
	if o.Forks < 1 {
		o.Forks = 1
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	results := make([]Result, len(targets))
	var mu sync.Mutex // serialises OnLine and OnDone
	token := randomToken()
	sem := make(chan struct{}, o.Forks)
	g := newGate(o.Forks, o.Handshakes)
	var wg sync.WaitGroup
	for i, t := range targets {
		var hs *slot
		select {
		case sem <- struct{}{}:
			var err error
			if hs, err = g.acquire(ctx); err != nil {
				<-sem
			}
		case <-ctx.Done():
		}
		if hs == nil {
			results[i] = Result{Host: t.Name, Status: Unreachable, Error: "interrupted before it started"}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := runOne(ctx, t, o, token, &mu, hs)
			results[i] = r
			if o.OnDone != nil {
				mu.Lock()
				o.OnDone(r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return results
}

func randomToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wrap makes the remote command line: with become, sudo reads the password
// from the channel after a prompt unique to this run, and says when it is
// past authentication so that the script goes to the command, not to sudo.
func wrap(o Options, token string) string {
	if !o.Become {
		return o.Command
	}
	user := o.BecomeUser
	if user == "" {
		user = "root"
	}
	inner := "echo " + readyMark(token) + " >&2; " + o.Command
	return fmt.Sprintf("sudo -S -p %s -u %s -- /bin/sh -c %s", quote(promptMark(token)), quote(user), quote(inner))
}

func promptMark(token string) string { return "[ops-become-" + token + "]" }
func readyMark(token string) string  { return "ops-become-ready-" + token }

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func runOne(ctx context.Context, t Target, o Options, token string, mu *sync.Mutex, hs *slot) (r Result) {
	start := time.Now()
	r.Host = t.Name
	defer func() { r.Duration = time.Since(start) }()
	conn, chans, reqs, err := dial(ctx, t, o, hs)
	hs.done(err == nil)
	if err != nil {
		r.Status, r.Error = Unreachable, err.Error()
		return r
	}
	defer conn.Close()
	ch, chReqs, err := conn.OpenChannel("session", nil)
	if err != nil {
		r.Status, r.Error = Unreachable, "session: "+err.Error()
		return r
	}
	defer ch.Close()
	exit := make(chan exitInfo, 1)
	go serve(chans, reqs, chReqs, o.ForwardAgent, exit)
	if o.ForwardAgent != nil {
		_, _ = ch.SendRequest("auth-agent-req@openssh.com", true, nil)
	}
	var outBuf, errBuf bytes.Buffer
	emit := func(stderr bool) func([]byte) {
		return func(line []byte) {
			if o.Collect {
				if stderr {
					errBuf.Write(line)
					errBuf.WriteByte('\n')
				} else {
					outBuf.Write(line)
					outBuf.WriteByte('\n')
				}
			}
			if o.OnLine != nil {
				mu.Lock()
				o.OnLine(t.Name, stderr, line)
				mu.Unlock()
			}
		}
	}
	if ok, err := ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{wrap(o, token)})); err != nil || !ok {
		r.Status, r.Error = Failed, "start: the host refused the command"
		if err != nil {
			r.Error = "start: " + err.Error()
		}
		return r
	}
	stdout := &lines{emit: emit(false)}
	become := &becomeWatch{token: token, password: o.BecomePassword, stdin: channelStdin{ch}, body: o.Stdin, active: o.Become}
	stderr := &lines{emit: emit(true), filter: become.line}
	stderrDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(stderr, ch.Stderr())
		close(stderrDone)
	}()
	if !o.Become {
		become.sendBody()
	}
	// Timeout and interrupt end the connection, and with it the reads.
	var timedOut, interrupted atomic.Bool
	if o.CommandTimeout > 0 {
		tm := time.AfterFunc(o.CommandTimeout, func() { timedOut.Store(true); conn.Close() })
		defer tm.Stop()
	}
	stop := context.AfterFunc(ctx, func() {
		interrupted.Store(true)
		_, _ = ch.SendRequest("signal", false, ssh.Marshal(struct{ Signal string }{"INT"}))
		conn.Close()
	})
	defer stop()
	_, _ = io.Copy(stdout, ch)
	<-stderrDone
	ex := <-exit
	switch {
	case interrupted.Load():
		r.Status, r.Exit, r.Error = Failed, -1, "interrupted"
		return collect(r, o, &outBuf, &errBuf)
	case timedOut.Load() && !ex.got:
		stdout.flush()
		stderr.flush()
		r.Status, r.Exit, r.Error = Failed, -1, fmt.Sprintf("command timed out after %s", o.CommandTimeout)
		return collect(r, o, &outBuf, &errBuf)
	}
	stdout.flush()
	stderr.flush()
	switch {
	case become.rejected:
		r.Status, r.Exit, r.Error = Failed, -1, "the become password was rejected"
	case !ex.got:
		r.Status, r.Exit, r.Error = Failed, -1, "connection lost: the host gave no exit status"
	case ex.status == 0:
		r.Status = OK
	default:
		r.Status, r.Exit = Failed, ex.status
		if ex.signal != "" {
			r.Error = "killed by SIG" + ex.signal
		}
	}
	return collect(r, o, &outBuf, &errBuf)
}

func collect(r Result, o Options, out, errb *bytes.Buffer) Result {
	if o.Collect {
		r.Stdout, r.Stderr = out.Bytes(), errb.Bytes()
	}
	return r
}

func dial(ctx context.Context, t Target, o Options, hs *slot) (ssh.Conn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	var auth []ssh.AuthMethod
	if len(t.Signers) > 0 {
		auth = append(auth, ssh.PublicKeys(t.Signers...))
	}
	if o.Auth != nil {
		auth = append(auth, o.Auth()...)
	}
	cfg := &ssh.ClientConfig{User: t.User, Auth: auth, HostKeyCallback: o.HostKey, Timeout: o.ConnectTimeout, ClientVersion: "SSH-2.0-ops-exec"}
	dctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", t.Addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect %s: %v", t.Addr, sshx.UnwrapNetError(err))
	}
	_ = conn.SetDeadline(time.Now().Add(o.ConnectTimeout))
	stop := context.AfterFunc(dctx, func() { _ = conn.SetDeadline(time.Now()) })
	sc, chans, reqs, err := ssh.NewClientConn(sshx.ReadBuffered(hs.watch(conn)), t.Addr, cfg)
	stop()
	if err != nil {
		conn.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, nil, nil, fmt.Errorf("%s: no SSH handshake within %s", t.Addr, o.ConnectTimeout)
		}
		return nil, nil, nil, fmt.Errorf("%s: %v", t.Addr, strings.TrimPrefix(err.Error(), "ssh: handshake failed: "))
	}
	_ = conn.SetDeadline(time.Time{})
	return sc, chans, reqs, nil
}

// lines splits a stream into whole lines (a last partial line is flushed
// at the end); filter may swallow a line.
type lines struct {
	buf    []byte
	emit   func([]byte)
	filter func([]byte) bool // true: drop the line
}

func (l *lines) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	l.scan()
	return len(p), nil
}

// ReadFrom lets io.Copy, with which x/crypto/ssh drains each session
// stream, read straight into the line buffer instead of allocating its own
// 32 KiB buffer per stream (two per host).
func (l *lines) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if cap(l.buf)-len(l.buf) < 256 {
			nb := make([]byte, len(l.buf), max(512, 2*cap(l.buf)))
			copy(nb, l.buf)
			l.buf = nb
		}
		n, err := r.Read(l.buf[len(l.buf):cap(l.buf)])
		total += int64(n)
		if n > 0 {
			l.buf = l.buf[:len(l.buf)+n]
			l.scan()
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// scan emits the buffer's complete lines and keeps the partial rest at its
// start.
func (l *lines) scan() {
	rest := l.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		l.out(rest[:i])
		rest = rest[i+1:]
	}
	// A prompt does not end in a newline: let the filter see it now.
	if l.filter != nil && len(rest) > 0 && l.filter(rest) {
		rest = rest[:0]
	}
	l.buf = l.buf[:copy(l.buf, rest)]
}

func (l *lines) out(line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if l.filter != nil && l.filter(line) {
		return
	}
	l.emit(append([]byte(nil), line...))
}

func (l *lines) flush() {
	if len(l.buf) > 0 {
		l.out(l.buf)
		l.buf = nil
	}
}

// becomeWatch answers sudo's unique prompt with the password once; a second
// prompt means the password was wrong, and the session is ended at once.
type becomeWatch struct {
	token    string
	password string
	stdin    io.WriteCloser
	body     []byte
	active   bool
	prompts  int
	rejected bool
	sent     bool
}

func (b *becomeWatch) sendBody() {
	if b.sent {
		return
	}
	b.sent = true
	go func() {
		if len(b.body) > 0 {
			_, _ = b.stdin.Write(b.body)
		}
		_ = b.stdin.Close()
	}()
}

// line handles stderr lines (and the pending partial line): it swallows
// ops's own markers.
func (b *becomeWatch) line(p []byte) bool {
	if !b.active {
		return false
	}
	if bytes.Contains(p, []byte(promptMark(b.token))) {
		b.prompts++
		if b.prompts == 1 {
			_, _ = io.WriteString(b.stdin, b.password+"\n")
		} else {
			b.rejected = true
			_ = b.stdin.Close()
		}
		return true
	}
	if bytes.Contains(p, []byte(readyMark(b.token))) {
		b.sendBody()
		return true
	}
	return bytes.HasPrefix(p, []byte("Sorry, try again.")) || bytes.Contains(p, []byte("incorrect password attempt"))
}
