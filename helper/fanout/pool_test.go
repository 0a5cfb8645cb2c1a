package fanout

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/ops-team/ops/internal/simfleet"
)

// poolServer is an in-process SSH server that counts the TCP connections
// it accepts and the sessions opened on them. `exit N` exits N, `sleep S`
// waits S seconds then exits 0, anything else prints "ok N" (N: the
// connection's number, from 1) and exits 0. At the session opens from
// dropLo to dropHi (counted over the server, from 1) it closes the TCP
// connection instead of answering.
type poolServer struct {
	Addr           string
	conns          atomic.Int64
	opens          atomic.Int64
	dropLo, dropHi atomic.Int64
	mu             sync.Mutex
	open           []net.Conn
	sconns         []*ssh.ServerConn
}

func startPoolServer(t *testing.T) *poolServer {
	t.Helper()
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(ed25519Signer(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &poolServer{Addr: l.Addr().String()}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		close(done)
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c, cfg, n, done, &wg)
			}()
		}
	}()
	return s
}

func (s *poolServer) serve(c net.Conn, cfg *ssh.ServerConfig, n int64, done chan struct{}, wg *sync.WaitGroup) {
	defer c.Close()
	sconn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.sconns = append(s.sconns, sconn)
	s.mu.Unlock()
	wg.Add(1)
	go func() { defer wg.Done(); ssh.DiscardRequests(reqs) }()
	for nc := range chans {
		if o := s.opens.Add(1); o >= s.dropLo.Load() && o <= s.dropHi.Load() {
			c.Close()
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ch.Close()
			for r := range creqs {
				if r.Type != "exec" {
					r.Reply(false, nil)
					continue
				}
				r.Reply(true, nil)
				var cmd struct{ Command string }
				ssh.Unmarshal(r.Payload, &cmd)
				status := 0
				if v, ok := strings.CutPrefix(cmd.Command, "exit "); ok {
					status, _ = strconv.Atoi(v)
				} else if cmd.Command == "agent" {
					// The forwarded agent, asked through the connection.
					ach, areqs, err := sconn.OpenChannel("auth-agent@openssh.com", nil)
					if err != nil {
						fmt.Fprintf(ch, "no agent: %v\n", err)
					} else {
						go ssh.DiscardRequests(areqs)
						keys, err := agent.NewClient(ach).List()
						fmt.Fprintf(ch, "%d keys %v\n", len(keys), err)
						ach.Close()
					}
				} else if v, ok := strings.CutPrefix(cmd.Command, "sleep "); ok {
					d, _ := strconv.ParseFloat(v, 64)
					select {
					case <-time.After(time.Duration(d * float64(time.Second))):
					case <-done:
						return
					}
				} else {
					fmt.Fprintf(ch, "ok %d\n", n)
				}
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
				return
			}
		}()
	}
}

func newTestPool(t *testing.T, o Options) *Pool {
	p := NewPool(o)
	t.Cleanup(p.Close)
	return p
}

// A host's second command, and its third, go over the connection its
// first one dialled: one TCP connection in all (counted by the server and
// by the pool), each command with its own exit status.
func TestPoolKeepsTheConnection(t *testing.T) {
	srv := startPoolServer(t)
	p := newTestPool(t, clientOptions(t))
	host := Target{Name: "h", Addr: srv.Addr, User: "u"}
	ctx := context.Background()
	for i, c := range []struct {
		line   string
		status Status
		exit   int
	}{{"uptime", OK, 0}, {"exit 3", Failed, 3}, {"uptime", OK, 0}, {"exit 0", OK, 0}} {
		r := p.Exec(ctx, host, Command{Line: c.line, Collect: true})
		if r.Status != c.status || r.Exit != c.exit {
			t.Errorf("command %d (%s): %s exit %d (%s)", i, c.line, r.Status, r.Exit, r.Error)
		}
		if c.line == "uptime" && string(r.Stdout) != "ok 1\n" {
			t.Errorf("command %d: %q, want it over the first connection", i, r.Stdout)
		}
	}
	if n, d := srv.conns.Load(), p.Dials(); n != 1 || d != 1 {
		t.Errorf("%d TCP connections accepted, %d dialled; want 1", n, d)
	}
	if n := srv.opens.Load(); n != 4 {
		t.Errorf("%d sessions, want 4", n)
	}
	// Commands at once on one host: sessions side by side on its
	// connection, each given its own exit.
	var wg sync.WaitGroup
	exits := make([]int, 5)
	for i := range exits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			exits[i] = p.Exec(ctx, host, Command{Line: fmt.Sprintf("exit %d", i+10)}).Exit
		}()
	}
	wg.Wait()
	if !slices.Equal(exits, []int{10, 11, 12, 13, 14}) {
		t.Errorf("exits %v", exits)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d TCP connections after commands at once", n)
	}
	if p.Open() != 1 {
		t.Errorf("%d open", p.Open())
	}
}

// A kept connection goes on answering its host between commands and
// after them: keepalives, and the forwarded agent for every command.
func TestPoolKeptConnectionAnswersItsHost(t *testing.T) {
	srv := startPoolServer(t)
	o := clientOptions(t)
	kr := agent.NewKeyring()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	kr.Add(agent.AddedKey{PrivateKey: priv})
	o.ForwardAgent = kr
	p := newTestPool(t, o)
	host := Target{Name: "h", Addr: srv.Addr, User: "u"}
	for i := 0; i < 3; i++ {
		r := p.Exec(context.Background(), host, Command{Line: "agent", Collect: true})
		if r.Status != OK || string(r.Stdout) != "1 keys <nil>\n" {
			t.Errorf("command %d: %s %q %q", i, r.Status, r.Error, r.Stdout)
		}
		srv.mu.Lock()
		sc := srv.sconns[0]
		srv.mu.Unlock()
		replied := make(chan error, 1)
		go func() { _, _, err := sc.SendRequest("keepalive@openssh.com", true, nil); replied <- err }()
		select {
		case err := <-replied:
			if err != nil {
				t.Errorf("keepalive after command %d: %v", i, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no answer to a keepalive on the idle connection after command %d", i)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections", n)
	}
}

// RunAll on a fleet: results in order, every host dialled once over three
// rounds.
func TestPoolRunAllDialsEachHostOnce(t *testing.T) {
	fleet, err := simfleet.Start(30, 0, 0)
	if err != nil {
		t.Skip("simulated fleet:", err)
	}
	t.Cleanup(fleet.Close)
	var targets []Target
	for i, a := range fleet.Addrs {
		targets = append(targets, Target{Name: fmt.Sprint("h", i), Addr: a, User: "u"})
	}
	o := testOptions()
	o.Forks = 7
	p := newTestPool(t, o)
	for round := 0; round < 3; round++ {
		var done atomic.Int64
		results := p.RunAll(context.Background(), targets, func(t Target) Command {
			return Command{Line: "uptime", Collect: true}
		}, func(Result) { done.Add(1) })
		for i, r := range results {
			if r.Host != targets[i].Name || r.Status != OK || !strings.Contains(string(r.Stdout), "load average") {
				t.Errorf("round %d: %s: %s %q %q", round, r.Host, r.Status, r.Error, r.Stdout)
			}
		}
		if done.Load() != int64(len(targets)) {
			t.Errorf("round %d: onDone for %d hosts", round, done.Load())
		}
	}
	if d := p.Dials(); d != int64(len(targets)) {
		t.Errorf("%d dials for %d hosts over 3 rounds", d, len(targets))
	}
}

// Beyond the cap, the least recently used idle connection is closed (and
// dialled again when needed).
func TestPoolCapClosesTheLeastRecentlyUsed(t *testing.T) {
	var hosts []Target
	var srvs []*poolServer
	for _, name := range []string{"a", "b", "c"} {
		s := startPoolServer(t)
		srvs = append(srvs, s)
		hosts = append(hosts, Target{Name: name, Addr: s.Addr, User: "u"})
	}
	p := newTestPool(t, clientOptions(t))
	p.SetMaxOpen(2)
	ctx := context.Background()
	kept := func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		var names []string
		for hc := p.idleHead; hc != nil; hc = hc.next {
			names = append(names, strings.SplitN(hc.key, "\x00", 2)[0])
		}
		return strings.Join(names, ",")
	}
	run := func(i int) {
		t.Helper()
		if r := p.Exec(ctx, hosts[i], Command{Line: "uptime"}); r.Status != OK {
			t.Fatalf("%s: %s %s", r.Host, r.Status, r.Error)
		}
	}
	run(0)
	run(1)
	run(2) // a is the least recently used: closed
	if k := kept(); k != "c,b" || p.Open() != 2 {
		t.Errorf("kept %q (%d open), want c,b", k, p.Open())
	}
	run(1) // b again: kept, no dial
	if d := p.Dials(); d != 3 {
		t.Errorf("%d dials, want 3", d)
	}
	run(0) // a dialled again; c, now the least recently used, closed
	if k := kept(); k != "a,b" || p.Dials() != 4 {
		t.Errorf("kept %q after %d dials, want a,b after 4", k, p.Dials())
	}
	if n := srvs[0].conns.Load(); n != 2 {
		t.Errorf("a accepted %d connections, want 2", n)
	}
	p.SetMaxOpen(0)
	if k := kept(); k != "" || p.Open() != 0 {
		t.Errorf("with a cap of 0: kept %q", k)
	}
}

// A connection the host closed between commands is dialled again, once,
// and the command succeeds; a host that stays down is unreachable after
// that one dial.
func TestPoolRedialsALostConnectionOnce(t *testing.T) {
	fleet, err := simfleet.Start(1, 0, 0)
	if err != nil {
		t.Skip("simulated fleet:", err)
	}
	_, portStr, _ := net.SplitHostPort(fleet.Addrs[0])
	port, _ := strconv.Atoi(portStr)
	host := Target{Name: "h", Addr: fleet.Addrs[0], User: "u"}
	o := testOptions()
	o.ConnectTimeout = 2 * time.Second
	p := newTestPool(t, o)
	ctx := context.Background()
	if r := p.Exec(ctx, host, Command{Line: "uptime"}); r.Status != OK {
		t.Fatalf("first: %s %s", r.Status, r.Error)
	}
	// The host restarts: its end of the connection is closed.
	fleet.Close()
	if fleet, err = simfleet.Start(1, port, 0); err != nil {
		t.Skip("restarting the simulated host:", err)
	}
	t.Cleanup(func() { fleet.Close() })
	if r := p.Exec(ctx, host, Command{Line: "uptime"}); r.Status != OK || p.Dials() != 2 {
		t.Errorf("after the restart: %s %q, %d dials (want ok after 2)", r.Status, r.Error, p.Dials())
	}
	// The host goes down and stays down.
	fleet.Close()
	start := time.Now()
	r := p.Exec(ctx, host, Command{Line: "uptime"})
	if r.Status != Unreachable || !strings.Contains(r.Error, "connect") || p.Dials() != 3 {
		t.Errorf("down: %s %q after %d dials (want unreachable after 3)", r.Status, r.Error, p.Dials())
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a refused re-dial took %s", took)
	}
	if p.Open() != 0 {
		t.Errorf("%d open", p.Open())
	}
}

// A kept connection that dies at the session open (the host closes TCP
// instead of answering it) is dialled again once; a new connection that
// dies there is not.
func TestPoolRedialsAConnectionDeadAtTheOpen(t *testing.T) {
	srv := startPoolServer(t)
	host := Target{Name: "h", Addr: srv.Addr, User: "u"}
	p := newTestPool(t, clientOptions(t))
	ctx := context.Background()
	if r := p.Exec(ctx, host, Command{Line: "uptime"}); r.Status != OK {
		t.Fatalf("first: %s %s", r.Status, r.Error)
	}
	srv.dropLo.Store(2)
	srv.dropHi.Store(2)
	r := p.Exec(ctx, host, Command{Line: "uptime", Collect: true})
	if r.Status != OK || string(r.Stdout) != "ok 2\n" || p.Dials() != 2 {
		t.Errorf("dead at the open: %s %q %q after %d dials (want ok over connection 2)", r.Status, r.Error, r.Stdout, p.Dials())
	}
	// The next open (on the kept connection 2) and the one on the new
	// connection both die: unreachable, two dials more would be one too many.
	srv.dropHi.Store(5)
	srv.dropLo.Store(4)
	r = p.Exec(ctx, host, Command{Line: "uptime"})
	if r.Status != Unreachable || !strings.Contains(r.Error, "session") || p.Dials() != 3 {
		t.Errorf("dead twice: %s %q after %d dials (want unreachable after 3)", r.Status, r.Error, p.Dials())
	}
}

// Hostile hosts are bounded and classified by Exec as by Run, round after
// round; the connections of commands that timed out or whose connection
// dropped are closed, those of commands that ended (ok or failed) kept.
func TestPoolHostileHostsAreBoundedAndClassified(t *testing.T) {
	targets, _ := hostileFleet(t)
	o := testOptions()
	o.ConnectTimeout = time.Second
	p := newTestPool(t, o)
	for round := 0; round < 2; round++ {
		start := time.Now()
		got := byName(p.RunAll(context.Background(), targets, func(Target) Command {
			return Command{Line: "uptime", Timeout: 2 * time.Second, Collect: true}
		}, nil))
		took := time.Since(start)
		checkHostile(t, got)
		if took > 6*time.Second {
			t.Errorf("round %d took %s", round, took)
		}
		var kept []string
		p.mu.Lock()
		for _, hc := range p.conns {
			kept = append(kept, strings.SplitN(hc.key, "\x00", 2)[0])
		}
		p.mu.Unlock()
		slices.Sort(kept)
		if strings.Join(kept, ",") != "good,signal" {
			t.Errorf("round %d: kept the connections of %v, want good and signal", round, kept)
		}
	}
	// Round two dialled every host again but the two kept.
	if d := p.Dials(); d != int64(2*len(targets)-2) {
		t.Errorf("%d dials over 2 rounds of %d hosts", d, len(targets))
	}
}

// An interrupt ends Exec at once: a running command is interrupted and its
// connection closed; one still setting up is not started; hosts queued in
// RunAll are not started.
func TestPoolInterrupt(t *testing.T) {
	all, _ := hostileFleet(t)
	targets := queuedBehindStalls(all)
	o := testOptions()
	o.Forks, o.ConnectTimeout = 6, time.Minute
	p := newTestPool(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	var done atomic.Int64
	start := time.Now()
	results := p.RunAll(ctx, targets, func(Target) Command { return Command{Line: "uptime"} }, func(Result) { done.Add(1) })
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("RunAll took %s to end after the interrupt at 1s", took)
	}
	got := byName(results)
	for host, want := range map[string]Status{"stall-kex": NotStarted, "stall-open": NotStarted, "stall-exec": NotStarted,
		"stall-run": Interrupted, "drip": Interrupted, "flood": Interrupted} {
		if r := got[host]; r.Status != want {
			t.Errorf("%s: %s (%s), want %s", host, r.Status, r.Error, want)
		}
	}
	if r := got["good"]; r.Status != NotStarted || !strings.Contains(r.Error, "before it started") {
		t.Errorf("the queued host: %s (%s)", r.Status, r.Error)
	}
	if done.Load() != int64(len(targets)) {
		t.Errorf("onDone for %d of %d hosts", done.Load(), len(targets))
	}
	if n := p.Open(); n != 0 {
		t.Errorf("%d connections kept after the interrupt", n)
	}

	// Interrupted mid-Exec on a kept connection: the command stops, the
	// connection is closed, and the next command dials again.
	srv := startPoolServer(t)
	host := Target{Name: "h", Addr: srv.Addr, User: "u"}
	if r := p.Exec(context.Background(), host, Command{Line: "uptime"}); r.Status != OK {
		t.Fatalf("%s %s", r.Status, r.Error)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start = time.Now()
	r := p.Exec(ctx, host, Command{Line: "sleep 30"})
	if took := time.Since(start); r.Status != Interrupted || took > time.Second {
		t.Errorf("interrupted sleep: %s %q after %s", r.Status, r.Error, took)
	}
	if r := p.Exec(ctx, host, Command{Line: "uptime"}); r.Status != NotStarted {
		t.Errorf("after the interrupt: %s", r.Status)
	}
	if r := p.Exec(context.Background(), host, Command{Line: "uptime"}); r.Status != OK || srv.conns.Load() != 2 {
		t.Errorf("next command: %s %q, %d connections (want a new one)", r.Status, r.Error, srv.conns.Load())
	}
	// A command timeout closes the connection too.
	r = p.Exec(context.Background(), host, Command{Line: "sleep 30", Timeout: 200 * time.Millisecond})
	if r.Status != TimedOut || p.Open() != 0 {
		t.Errorf("timed out: %s %q, %d open", r.Status, r.Error, p.Open())
	}
}

// Close closes every connection and returns when their goroutines have.
func TestPoolClose(t *testing.T) {
	srv := startPoolServer(t)
	before := runtime.NumGoroutine()
	p := NewPool(clientOptions(t))
	for i := 0; i < 3; i++ {
		if r := p.Exec(context.Background(), Target{Name: fmt.Sprint(i), Addr: srv.Addr, User: "u"}, Command{Line: "uptime"}); r.Status != OK {
			t.Fatal(r.Status, r.Error)
		}
	}
	p.Close()
	if r := p.Exec(context.Background(), Target{Name: "x", Addr: srv.Addr, User: "u"}, Command{Line: "uptime"}); r.Status != NotStarted {
		t.Errorf("after Close: %s %q", r.Status, r.Error)
	}
	// x/crypto's transport goroutines end by themselves, shortly after.
	for end := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before+2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Errorf("%d goroutines after Close, %d before", runtime.NumGoroutine(), before)
			break
		}
	}
	if p.Open() != 0 || len(p.all) != 0 {
		t.Errorf("%d open, %d served after Close", p.Open(), len(p.all))
	}
}

// The fleet of TestPoolIdleConnectionCost runs in a process of its own (this
// test binary, as a helper), so that only the client's costs are counted.
func TestPoolHelperFleet(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FANOUT_HELPER_FLEET"))
	if n == 0 {
		t.Skip("a helper process of TestPoolIdleConnectionCost")
	}
	fleet, err := simfleet.Start(n, 0, 0)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for _, a := range fleet.Addrs {
		fmt.Println(a)
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent ends
	os.Exit(0)
}

// What a kept idle connection costs the client: goroutines and memory
// (heap and stacks) per connection, with 1,000 idle connections to a
// simulated fleet in another process.
func TestPoolIdleConnectionCost(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPoolHelperFleet$")
	cmd.Env = append(os.Environ(), "FANOUT_HELPER_FLEET="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Skip("helper fleet:", err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	var targets []Target
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
		if strings.HasPrefix(sc.Text(), "error") {
			t.Skip("helper fleet:", sc.Text())
		}
		targets = append(targets, Target{Name: sc.Text(), Addr: sc.Text(), User: "u"})
	}
	if len(targets) != n {
		t.Fatalf("the helper fleet gave %d addresses", len(targets))
	}
	o := testOptions()
	o.Forks = 200
	measure := func() (goroutines int, heap, stacks uint64) {
		var m runtime.MemStats
		for i := 0; i < 3; i++ {
			runtime.GC()
		}
		runtime.ReadMemStats(&m)
		return runtime.NumGoroutine(), m.HeapAlloc, m.StackInuse
	}
	p := NewPool(o)
	defer p.Close()
	// What is not per connection (the gate, the token, pools of buffers)
	// is counted too: a slight overestimate.
	g0, h0, s0 := measure()
	for _, r := range p.RunAll(context.Background(), targets, func(Target) Command { return Command{Line: "uptime"} }, nil) {
		if r.Status != OK {
			t.Fatalf("%s: %s %s", r.Host, r.Status, r.Error)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the per-command goroutines end
	g1, h1, s1 := measure()
	if p.Open() != n {
		t.Fatalf("%d open", p.Open())
	}
	perG := float64(g1-g0) / float64(n)
	perHeap := float64(int64(h1)-int64(h0)) / float64(n) / 1024
	perStack := float64(int64(s1)-int64(s0)) / float64(n) / 1024
	t.Logf("%d idle connections: %.2f goroutines, %.1f KiB heap + %.1f KiB stacks = %.1f KiB each", n, perG, perHeap, perStack, perHeap+perStack)
	if perG > 4.05 {
		t.Errorf("%.2f goroutines per idle connection, want 4", perG)
	}
	if perHeap+perStack > 128 {
		t.Errorf("%.1f KiB per idle connection", perHeap+perStack)
	}
}

// Hosts behind a jump host: the pool keeps their tunnelled connections
// and the jump connection; a jump host that failed is tried again by the
// next RunAll.
func TestPoolThroughAJumpHost(t *testing.T) {
	jump := startServer(t)
	var targets []Target
	var srvs []*poolServer
	for i := 0; i < 3; i++ {
		s := startPoolServer(t)
		srvs = append(srvs, s)
		targets = append(targets, Target{Name: fmt.Sprint("t", i), Addr: s.Addr, User: "u", Jump: []JumpHop{{Addr: jump.Addr, User: "j"}}})
	}
	p := newTestPool(t, clientOptions(t))
	uptime := func(Target) Command { return Command{Line: "uptime"} }
	for round := 0; round < 3; round++ {
		for _, r := range p.RunAll(context.Background(), targets, uptime, nil) {
			if r.Status != OK {
				t.Errorf("round %d: %s: %s %q", round, r.Host, r.Status, r.Error)
			}
		}
	}
	if jump.conns.Load() != 1 || jump.tunnels.Load() != 3 {
		t.Errorf("%d jump connections, %d tunnels; want 1 and 3", jump.conns.Load(), jump.tunnels.Load())
	}
	for i, s := range srvs {
		if s.conns.Load() != 1 {
			t.Errorf("t%d: %d connections", i, s.conns.Load())
		}
	}

	// A jump host that is down: its hosts unreachable, once per RunAll.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := l.Addr().String()
	l.Close()
	behind := []Target{{Name: "b", Addr: srvs[0].Addr, User: "u", Jump: []JumpHop{{Addr: down, User: "j"}}}}
	for round := 0; round < 2; round++ {
		r := p.RunAll(context.Background(), behind, uptime, nil)[0]
		if r.Status != Unreachable || !strings.Contains(r.Error, "jump host j@"+down) {
			t.Errorf("round %d: %s %q", round, r.Status, r.Error)
		}
	}
	// It comes up: the next RunAll reaches the host through it.
	up := startServerAt(t, down)
	if r := p.RunAll(context.Background(), behind, uptime, nil)[0]; r.Status != OK || up.conns.Load() != 1 {
		t.Errorf("through the jump host once up: %s %q", r.Status, r.Error)
	}
}

// Forget closes the host's kept connection: its next command dials a new
// one (wait_for_connection after a reboot), and other hosts keep theirs.
func TestPoolForgetDialsAgain(t *testing.T) {
	srv := startPoolServer(t)
	p := newTestPool(t, clientOptions(t))
	a := Target{Name: "a", Addr: srv.Addr, User: "u"}
	b := Target{Name: "b", Addr: srv.Addr, User: "u"}
	ctx := context.Background()
	for _, h := range []Target{a, b, a, b} {
		if r := p.Exec(ctx, h, Command{Line: "uptime"}); r.Status != OK {
			t.Fatalf("%s: %s %s", h.Name, r.Status, r.Error)
		}
	}
	if d := p.Dials(); d != 2 {
		t.Fatalf("%d dials before Forget, want 2", d)
	}
	p.Forget(a)
	p.Forget(Target{Name: "nobody", Addr: srv.Addr, User: "u"}) // none kept: nothing happens
	if p.Open() != 1 {
		t.Errorf("%d open after Forget, want b's only", p.Open())
	}
	for _, h := range []Target{a, b} {
		if r := p.Exec(ctx, h, Command{Line: "uptime"}); r.Status != OK {
			t.Fatalf("%s: %s %s", h.Name, r.Status, r.Error)
		}
	}
	if d, n := p.Dials(), srv.conns.Load(); d != 3 || n != 3 {
		t.Errorf("%d dials, %d TCP connections; want 3 (a twice, b once)", d, n)
	}
}
