package fanout

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxOpen is how many connections a Pool keeps open unless
// SetMaxOpen says otherwise (or Forks is larger).
const DefaultMaxOpen = 1000

// Command is one command to run on a host over a Pool's connection: what
// Options holds per run for Run.
type Command struct {
	Line string // remote command line
	// Stdin is sent after sudo's ready mark (at once without become);
	// nil: stdin is closed at once.
	Stdin []byte
	// Become and BecomeUser; a Target's own (ansible_become,
	// ansible_become_user) take precedence, as in Run.
	Become     bool
	BecomeUser string
	// Timeout bounds the command after the host answered the exec
	// request; 0: none.
	Timeout time.Duration
	// Collect keeps the output in the Result, up to Options.KeepLimit.
	Collect bool
	// OnLine receives every complete output line, as Options.OnLine
	// (calls are serialised across the pool).
	OnLine func(host string, stderr bool, line []byte, cut bool)
}

// Pool keeps one SSH connection per host across commands, so that a
// host's second command costs a session channel, not a handshake.
//
// A connection is dialled (through the handshake gate and the target's
// jump hosts, as Run dials) by the first command on its host, and kept
// after a command that ended with the session closed: one that succeeded
// or failed. A connection whose command timed out or was interrupted, or
// whose host gave its exit status and kept the session open, is closed
// (its session may still hold the remote process). Connections beyond
// the cap (SetMaxOpen) are closed least recently used first; only idle
// ones are, so that while more commands than the cap run at once the cap
// is exceeded by them. Commands run at once on one host share its
// connection, each in a session of its own: a bound that fires for one
// (which closes the connection) ends the others too.
//
// A kept idle connection costs four goroutines (x/crypto/ssh's three and
// serve, which answers its keepalives, agent channel opens and session
// requests) and about 34 KiB: 18 KiB of heap and 16 KiB of their stacks,
// measured with 1,000 idle connections (TestPoolIdleConnectionCost). A
// connection that died silently (no FIN, no RST) is found by TCP
// keepalive (Go's dialer default), or costs its next command the connect
// timeout and counts it unreachable; the command after dials again.
//
// Hosts are told apart by Target name, user, address and jump hosts; a
// Target's keys and host key check are those of its first dial. The
// Options' per-command fields (Command, Stdin, Become, BecomeUser,
// CommandTimeout, Collect, OnLine, OnDone) are not used: Command and
// RunAll's onDone give them.
type Pool struct {
	o     Options
	token string
	gate  *gate
	jumps *jumpPool
	out   sync.Mutex // serialises OnLine and onDone
	dials atomic.Int64

	mu      sync.Mutex
	conns   map[string]*hostConn   // each host's kept connection
	all     map[*hostConn]struct{} // every connection whose serve has not returned
	open    int                    // connections open (counted), kept or in use
	maxOpen int
	// idle lists the kept connections no command uses, most recently
	// used first.
	idleHead, idleTail *hostConn
	closed             bool
}

// NewPool makes a pool for o (see Pool for the fields it uses). Close it
// when done.
func NewPool(o Options) *Pool {
	o = o.withDefaults()
	p := &Pool{
		o:       o,
		token:   randomToken(),
		gate:    newGate(o.Forks, o.Handshakes),
		conns:   map[string]*hostConn{},
		all:     map[*hostConn]struct{}{},
		maxOpen: max(DefaultMaxOpen, o.Forks),
	}
	// Jump connections live as long as the pool.
	p.jumps = newJumpPool(context.Background(), o)
	return p
}

// SetMaxOpen caps the open connections; n < 0 is 0 (none kept after its
// command).
func (p *Pool) SetMaxOpen(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.maxOpen = max(n, 0)
	p.evictLocked()
}

// Dials counts the SSH connections the pool has dialled (a metric, and
// what the tests count).
func (p *Pool) Dials() int64 { return p.dials.Load() }

// Open counts the connections open, kept or in use.
func (p *Pool) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// Close closes every connection (commands still running on them end as
// their connections do) and the jump connections, and returns when the
// goroutines that served them have returned. The pool runs nothing after.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	var wait []*hostConn
	for hc := range p.all {
		p.dropLocked(hc)
		hc.conn.Close()
		wait = append(wait, hc)
	}
	p.mu.Unlock()
	p.jumps.close()
	for _, hc := range wait {
		<-hc.served
	}
}

// RunAll runs c(t) on every target, at most Forks at a time, and returns
// the results in target order; onDone (if not nil) receives each as it is
// known, every host's once, calls serialised. c is called in target
// order, one call at a time, for the hosts that start. Options.Deadline bounds each RunAll as it
// bounds a Run; ForgetOutput drops the output after onDone. Cancelling
// ctx ends it as it ends Run. A jump host that failed is tried again by
// the next RunAll.
func (p *Pool) RunAll(ctx context.Context, targets []Target, c func(Target) Command, onDone func(Result)) []Result {
	o := p.o
	if o.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Deadline, errDeadline)
		defer cancel()
	}
	p.jumps.forgetFailed()
	results := make([]Result, len(targets))
	done := func(r Result) {
		if onDone != nil {
			p.out.Lock()
			onDone(r)
			p.out.Unlock()
		}
	}
	sem := make(chan struct{}, o.Forks)
	var wg sync.WaitGroup
	for i, t := range targets {
		started := false
		if ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
				started = true
			case <-ctx.Done():
			}
		}
		if !started {
			results[i] = notStarted(ctx, o, Result{Host: t.Name, Exit: -1}, "before it started")
			done(results[i])
			continue
		}
		cmd := c(t)
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := p.Exec(ctx, t, cmd)
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

// Exec runs c on t over t's kept connection, dialling it if there is
// none. A kept connection found lost (closed, or dead at the session
// open) is dialled again, once; a host whose new connection fails is
// unreachable. The bounds are Run's: the connect timeout for the
// handshake (when dialling), then again for the session set-up until the
// host answers the exec request; c.Timeout after; ctx all along. The
// result is classified as Run classifies it.
func (p *Pool) Exec(ctx context.Context, t Target, c Command) (r Result) {
	start := time.Now()
	r = Result{Host: t.Name, Exit: -1}
	defer func() { r.Duration = time.Since(start) }()
	o := p.o
	o.Command, o.Stdin, o.Become, o.BecomeUser = c.Line, c.Stdin, c.Become, c.BecomeUser
	o.CommandTimeout, o.Collect, o.OnLine, o.OnDone = c.Timeout, c.Collect, c.OnLine, nil
	o = forTarget(o, t)
	if ctx.Err() != nil {
		return notStarted(ctx, o, r, "before it started")
	}
	key := t.poolKey()
	h := newHostRun(ctx, t, o, p.token, &p.out)
	defer h.end()
	hc, ok := p.take(key)
	if !ok {
		r.Status, r.Error = NotStarted, "the pool is closed"
		return r
	}
	for {
		reused := hc != nil
		if !reused {
			var err error
			if hc, err = p.dial(h, key); err != nil {
				if errors.Is(err, errPoolClosed) {
					r.Status, r.Error = NotStarted, "the pool is closed"
					return r
				}
				return h.unreachable(r, err)
			}
		}
		res, kept, lost := h.session(hc, r)
		p.release(hc, kept)
		if lost && reused {
			hc = nil
			continue
		}
		return res
	}
}

var errPoolClosed = errors.New("the pool is closed")

// Forget closes t's kept connection, or, when a command still uses it,
// stops keeping it (it is closed when that command ends); t's next
// command dials a new one.
func (p *Pool) Forget(t Target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hc := p.conns[t.poolKey()]
	if hc == nil {
		return
	}
	p.dropLocked(hc)
	if hc.busy == 0 {
		hc.conn.Close()
	}
}

// poolKey tells hosts apart: name, user, address and jump hosts.
func (t Target) poolKey() string {
	var b strings.Builder
	b.WriteString(t.Name)
	b.WriteByte(0)
	b.WriteString(t.User)
	b.WriteByte('@')
	b.WriteString(t.Addr)
	for _, j := range t.Jump {
		b.WriteByte('<')
		b.WriteString(j.name())
	}
	return b.String()
}

// take gives the host's kept connection, marked in use; nil if there is
// none (or it ended); false if the pool is closed.
func (p *Pool) take(key string) (*hostConn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, false
	}
	hc := p.conns[key]
	if hc == nil {
		return nil, true
	}
	if hc.ended() {
		p.dropLocked(hc)
		return nil, true
	}
	p.unidleLocked(hc)
	hc.busy++
	return hc, true
}

// dial connects to the host through the gate (waiting for a place within
// ctx only), within the connect timeout, and keeps the connection as the
// host's, in use.
func (p *Pool) dial(h *hostRun, key string) (*hostConn, error) {
	hs, err := p.gate.acquire(h.ctx)
	if err != nil {
		return nil, err // ctx ended: beforeCommand makes it not started
	}
	p.dials.Add(1)
	h.timer.Reset(h.o.ConnectTimeout)
	hc, err := h.connect(hs, p.jumps, p.ended)
	if err != nil {
		return nil, err
	}
	hc.key, hc.busy = key, 1
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		hc.conn.Close()
		return nil, errPoolClosed
	}
	p.all[hc] = struct{}{}
	if old := p.conns[hc.key]; old != nil && old.busy == 0 {
		// Found ended by take, or raced: the new one is the host's.
		p.dropLocked(old)
		old.conn.Close()
	}
	if p.conns[hc.key] == nil {
		p.conns[hc.key] = hc
	} // else another command on the host dialled too: this one is closed after its command.
	hc.counted = true
	p.open++
	p.evictLocked()
	return hc, nil
}

// release ends a command's use of hc: kept, it stays the host's (and
// becomes idle when no command uses it); otherwise it is closed.
func (p *Pool) release(hc *hostConn, kept bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hc.busy--
	if !kept || p.closed || p.conns[hc.key] != hc || !hc.counted {
		p.dropLocked(hc)
		if hc.busy == 0 || !kept {
			hc.conn.Close()
		}
		return
	}
	if hc.busy == 0 {
		p.idleLocked(hc)
		p.evictLocked()
	}
}

// ended forgets a connection whose serve returned.
func (p *Pool) ended(hc *hostConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLocked(hc)
	delete(p.all, hc)
}

// dropLocked forgets hc as the host's, idle and open (it is closed or
// about to be).
func (p *Pool) dropLocked(hc *hostConn) {
	if p.conns[hc.key] == hc {
		delete(p.conns, hc.key)
	}
	p.unidleLocked(hc)
	if hc.counted {
		hc.counted = false
		p.open--
	}
}

// evictLocked closes idle connections, least recently used first, while
// more than maxOpen are open.
func (p *Pool) evictLocked() {
	for p.open > p.maxOpen && p.idleTail != nil {
		hc := p.idleTail
		p.dropLocked(hc)
		hc.conn.Close()
	}
}

func (p *Pool) idleLocked(hc *hostConn) {
	if hc.idle {
		return
	}
	hc.idle, hc.prev, hc.next = true, nil, p.idleHead
	if p.idleHead != nil {
		p.idleHead.prev = hc
	}
	p.idleHead = hc
	if p.idleTail == nil {
		p.idleTail = hc
	}
}

func (p *Pool) unidleLocked(hc *hostConn) {
	if !hc.idle {
		return
	}
	if hc.prev != nil {
		hc.prev.next = hc.next
	} else {
		p.idleHead = hc.next
	}
	if hc.next != nil {
		hc.next.prev = hc.prev
	} else {
		p.idleTail = hc.prev
	}
	hc.idle, hc.prev, hc.next = false, nil, nil
}
