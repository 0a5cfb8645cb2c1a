package fanout

import (
	"context"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// gate bounds the connections in their handshake (TCP connect, key
// exchange, authentication), apart from the forks that bound the hosts at
// work. Near hosts make a handshake mostly CPU, and a thousand begun at
// once only queue for the cores while each holds its buffers and grown
// stacks; far hosts make it mostly waiting, and then many should be in
// flight. So the limit starts at 64 (never less: on this 2-core machine
// 64 to 128 in flight keep both client and server busy, measured with
// --handshakes on 1,000 and 10,000 simulated hosts) and follows the
// handshake time, as TCP Vegas and gradient limiters do: a handshake no
// slower than twice the fastest seen means no queue, and the limit grows
// by a few per cent (the first round on a far network takes it to the
// forks); a slower one means queueing, and it shrinks in proportion. A
// handshake that hears nothing from its host for a while (a dead or
// silent host) stops counting, so such hosts do not hold up live ones.
type gate struct {
	mu       sync.Mutex
	limit    float64
	floor    float64
	max      float64
	fixed    bool
	inflight int
	minD     time.Duration
	growth   float64       // per handshake no slower than twice the fastest
	silence  time.Duration // a handshake that hears nothing this long stops counting
	// waiters wait for room in arrival order (Run's loop is the only
	// one; a Pool's hosts that dial each wait here), each woken alone.
	waiters []chan struct{}
}

const (
	gateStart   = 64
	gateMin     = 64
	gateGrowth  = 0.03
	gateSilence = 200 * time.Millisecond
)

// newGate: fixed > 0 pins the limit; otherwise it adapts up to max.
func newGate(max, fixed int) *gate {
	g := &gate{max: float64(max), growth: gateGrowth, silence: gateSilence}
	if fixed > 0 {
		g.limit, g.fixed = float64(min(fixed, max)), true
	} else {
		g.limit = float64(min(gateStart, max))
	}
	g.floor = math.Min(gateMin, g.max)
	return g
}

// slot is one handshake's place in the gate.
type slot struct {
	g     *gate
	start time.Time
	timer atomic.Pointer[time.Timer]
	heard atomic.Int64 // bytes from the host so far
	freed atomic.Bool
}

// acquire waits for room, behind those that came before.
func (g *gate) acquire(ctx context.Context) (*slot, error) {
	for first := true; ; first = false {
		g.mu.Lock()
		if float64(g.inflight) < g.limit && (len(g.waiters) == 0 || !first) {
			g.inflight++
			silence := max(g.silence, 4*g.minD)
			g.mu.Unlock()
			s := &slot{g: g, start: time.Now()}
			seen := int64(-1)
			s.timer.Store(time.AfterFunc(silence, func() {
				if t := s.timer.Load(); t != nil && s.heard.Load() != seen && !s.freed.Load() {
					seen = s.heard.Load()
					t.Reset(silence)
					return
				}
				g.finish(0, false, s.free())
			}))
			return s, nil
		}
		w := make(chan struct{}, 1)
		if first {
			g.waiters = append(g.waiters, w)
		} else {
			// Woken but the room went (the limit shrank): first in line again.
			g.waiters = append([]chan struct{}{w}, g.waiters...)
		}
		g.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			g.mu.Lock()
			if i := slices.Index(g.waiters, w); i >= 0 {
				g.waiters = slices.Delete(g.waiters, i, i+1)
			}
			g.mu.Unlock()
			select {
			case <-w: // woken as it gave up: the room goes to the next one
				g.mu.Lock()
				g.wakeLocked()
				g.mu.Unlock()
			default:
			}
			return nil, ctx.Err()
		}
	}
}

// wakeLocked wakes as many waiters as there is room for.
func (g *gate) wakeLocked() {
	for n := int(math.Ceil(g.limit)) - g.inflight; n > 0 && len(g.waiters) > 0; n-- {
		g.waiters[0] <- struct{}{}
		g.waiters = g.waiters[1:]
	}
}

// watch counts what conn reads toward the slot's signs of life.
func (s *slot) watch(conn net.Conn) net.Conn { return &heardConn{conn, &s.heard} }

type heardConn struct {
	net.Conn
	heard *atomic.Int64
}

func (c *heardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.heard.Add(int64(n))
	return n, err
}

// free reports whether this call gave the place back (once per slot).
func (s *slot) free() bool { return !s.freed.Swap(true) }

// done ends the handshake; ok: it completed, and its time is a sample,
// even when it had gone silent for a while and no longer held its place.
func (s *slot) done(ok bool) {
	if t := s.timer.Load(); t != nil {
		t.Stop()
	}
	s.g.finish(time.Since(s.start), ok, s.free())
}

func (g *gate) finish(d time.Duration, sample, free bool) {
	if !sample && !free {
		return
	}
	g.mu.Lock()
	if free {
		g.inflight--
	}
	if sample && !g.fixed {
		if g.minD == 0 || d < g.minD {
			g.minD = max(d, time.Microsecond)
		}
		if d <= 2*g.minD {
			g.limit = g.limit*(1+g.growth) + 1
		} else {
			grad := math.Max(0.5, 2*float64(g.minD)/float64(d))
			g.limit = 0.8*g.limit + 0.2*(g.limit*grad+math.Sqrt(g.limit))
		}
		g.limit = math.Max(g.floor, math.Min(g.max, g.limit))
	}
	g.wakeLocked()
	g.mu.Unlock()
}
