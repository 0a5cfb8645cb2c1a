package fanout

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ops-team/ops/internal/simfleet"
)

// release feeds the gate handshake times as multiples of the fastest.
func TestGateLimitFollowsHandshakeTime(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		fixed   int
		times   []float64 // handshake times, × the first
		atLeast float64
		atMost  float64
	}{
		{"as fast as the fastest: grows to the forks", 1000, 0, repeat(1, 400), 1000, 1000},
		{"twice the fastest: still no queue", 1000, 0, append([]float64{1}, repeat(2, 400)...), 1000, 1000},
		{"four times: queueing, shrinks to the floor", 1000, 0, append([]float64{1}, repeat(4, 200)...), gateMin, gateMin},
		{"never above the forks", 20, 0, repeat(1, 50), 20, 20},
		{"fewer forks than the floor", 3, 0, repeat(5, 50), 3, 3},
		{"pinned", 1000, 50, append([]float64{1}, repeat(4, 100)...), 50, 50},
		{"starts at 64", 1000, 0, nil, gateStart, gateStart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate(tc.max, tc.fixed)
			for _, x := range tc.times {
				g.inflight++
				g.finish(time.Duration(x*float64(10*time.Millisecond)), true, true)
			}
			if g.limit < tc.atLeast || g.limit > tc.atMost {
				t.Errorf("limit %.1f, want %.0f..%.0f", g.limit, tc.atLeast, tc.atMost)
			}
		})
	}
}

func repeat(x float64, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = x
	}
	return s
}

func TestGateAcquireWaitsForRoomAndStalls(t *testing.T) {
	g := newGate(2, 2)
	g.silence = time.Hour
	ctx := context.Background()
	a, _ := g.acquire(ctx)
	b, _ := g.acquire(ctx)
	// Full: a third waits until one is done.
	got := make(chan *slot)
	go func() { s, _ := g.acquire(ctx); got <- s }()
	select {
	case <-got:
		t.Fatal("a third handshake got in past a limit of 2")
	case <-time.After(50 * time.Millisecond):
	}
	a.done(true)
	c := <-got
	// Done twice (or stalled, then done) frees one place only.
	a.done(true)
	if n, _ := g.state(); n != 2 {
		t.Fatalf("%d in flight after a double done, want 2", n)
	}
	// Cancelled while waiting.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.acquire(cctx); err == nil {
		t.Error("acquire on a cancelled context")
	}
	b.done(false)
	c.done(false)

	// A handshake that keeps hearing from its host keeps its place…
	g = newGate(1, 0)
	g.silence = 100 * time.Millisecond
	s, _ := g.acquire(ctx)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				s.heard.Add(1)
			}
		}
	}()
	tctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	if _, err := g.acquire(tctx); err == nil {
		t.Error("a handshake that hears from its host lost its place")
	}
	cancel()
	close(stop)
	// …and one that hears nothing stops counting by itself.
	tctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s2, err := g.acquire(tctx)
	if err != nil {
		t.Fatal("a silent handshake kept its place")
	}
	s.done(true) // late: no second release, but its time counts
	if n, fastest := g.state(); n != 1 || fastest < 400*time.Millisecond {
		t.Errorf("late done: %d in flight, fastest %s", n, fastest)
	}
	s2.done(false)
}

func (g *gate) state() (int, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight, g.minD
}

// Hosts that accept TCP and never speak SSH must not hold up the others,
// even when they fill every handshake place.
func TestSilentHostsDoNotHoldUpLiveOnes(t *testing.T) {
	fleet, err := simfleet.Start(3, 2310, 0)
	if err != nil {
		t.Skip("simulated fleet:", err)
	}
	defer fleet.Close()
	var targets []Target
	for i := 0; i < 4; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		targets = append(targets, Target{Name: fmt.Sprint("silent", i), Addr: l.Addr().String(), User: "u"})
	}
	for i, a := range fleet.Addrs {
		targets = append(targets, Target{Name: fmt.Sprint("live", i), Addr: a, User: "u"})
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	var order []string
	results := Run(context.Background(), targets, Options{
		Forks: 10, Handshakes: 2, ConnectTimeout: 3 * time.Second, Command: "uptime",
		HostKey: ssh.InsecureIgnoreHostKey(),
		Auth:    func() []ssh.AuthMethod { return []ssh.AuthMethod{ssh.PublicKeys(signer)} },
		OnDone:  func(r Result) { order = append(order, r.Host+"="+string(r.Status)) },
	})
	for _, r := range results {
		want := Unreachable
		if strings.HasPrefix(r.Host, "live") {
			want = OK
		}
		if r.Status != want {
			t.Errorf("%s: %s (%s), want %s", r.Host, r.Status, r.Error, want)
		}
	}
	if got := strings.Join(order, " "); !strings.HasPrefix(got, "live") || strings.Contains(got[:strings.LastIndex(got, "live")], "silent") {
		t.Errorf("results in the order %s: the live hosts waited for the silent ones", got)
	}
}
