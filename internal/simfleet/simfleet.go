// Package simfleet is a simulated fleet for benchmarks: one Go SSH server
// answering on many loopback addresses without forking, so that a client's
// own cost shows. It negotiates what OpenSSH 9.2 would with a Go client
// (curve25519-sha256) and answers any command with an uptime-like line.
// Some hosts can be made hostile (see Fault and StartFaults): they stall,
// flood or drop, so that a client can be tested against a bad fleet.
package simfleet

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Fleet is the running server.
type Fleet struct {
	// Addrs are the hosts' addresses, host i at Addrs[i]. With port 0
	// every host has a port of its own.
	Addrs []string
	// Faults are the hostile hosts by index; a host not in it behaves.
	// Read only.
	Faults map[int]Fault

	listeners []net.Listener
	cfg       *ssh.ServerConfig
	refuse    *ssh.ServerConfig // refuse-auth: every method fails
	delay     time.Duration
	start     time.Time
	flood     []byte   // flood and drip output, shared and never written
	running   chan int // hostile hosts whose command was accepted (see Running)

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup
}

// Deadlines on a host's connection: a behaving host gives up after a
// minute, as before; a hostile one stalls longer than any client should
// wait (Close still ends it at once).
const (
	deadline        = 60 * time.Second
	hostileDeadline = 10 * time.Minute
)

func newFleet() *Fleet {
	return &Fleet{conns: map[net.Conn]struct{}{}, done: make(chan struct{}), start: time.Now()}
}

// Start listens on port at n addresses 127.1.x.y and serves until Close.
// delay holds every packet the fleet sends, as a far network would (one
// way; packets are not pipelined). A command `sleep S` answers after S
// seconds, so that sessions stay open. Port 0 gives every address a port
// of its own (see Addrs).
func Start(n, port int, delay time.Duration) (*Fleet, error) {
	return StartFaults(n, port, delay, nil)
}

// StartFaults is Start with hostile hosts: faults[i] is what host i does
// instead of behaving (see ParseFaults and Spread to choose them).
func StartFaults(n, port int, delay time.Duration, faults map[int]Fault) (*Fleet, error) {
	for i, ft := range faults {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("simfleet: fault for host %d of %d", i, n)
		}
		if !ft.valid() {
			return nil, fmt.Errorf("simfleet: host %d: unknown fault %q", i, ft)
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ServerConfig{
		// Any key, but the client must still prove it holds it (the
		// signature is checked by the protocol).
		PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil },
		ServerVersion:     "SSH-2.0-OpenSSH_9.2p1 simfleet",
	}
	cfg.KeyExchanges = []string{"curve25519-sha256", "curve25519-sha256@libssh.org"}
	cfg.AddHostKey(signer)
	refused := errors.New("refused")
	refuse := &ssh.ServerConfig{
		PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, refused },
		PasswordCallback:  func(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) { return nil, refused },
		KeyboardInteractiveCallback: func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			return nil, refused
		},
		ServerVersion: cfg.ServerVersion,
	}
	refuse.KeyExchanges = cfg.KeyExchanges
	refuse.AddHostKey(signer)
	f := newFleet()
	f.cfg, f.refuse, f.delay, f.Faults = cfg, refuse, delay, map[int]Fault{}
	f.running = make(chan int, len(faults))
	for i, ft := range faults {
		f.Faults[i] = ft
	}
	for _, ft := range f.Faults {
		if ft == Flood || ft == Drip {
			f.flood = []byte(strings.Repeat(".", 32<<10))
			break
		}
	}
	if err := f.listen(n, port, f.handle); err != nil {
		return nil, err
	}
	return f, nil
}

// Addr is the address of the fleet's host i on port.
func Addr(i, port int) string {
	return fmt.Sprintf("127.1.%d.%d:%d", 1+i/250, 1+i%250, port)
}

// listen accepts on port at n addresses, each connection handled in its
// own goroutine, until Close; on failure what was opened is closed.
func (f *Fleet) listen(n, port int, handle func(i int, c net.Conn)) error {
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", Addr(i, port))
		if err != nil {
			f.Close()
			return err
		}
		f.listeners = append(f.listeners, l)
		f.Addrs = append(f.Addrs, l.Addr().String())
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				if !f.track(c) {
					c.Close()
					return
				}
				f.wg.Add(1)
				go func() {
					defer f.wg.Done()
					defer f.untrack(c)
					handle(i, c)
				}()
			}
		}()
	}
	return nil
}

func (f *Fleet) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Fleet) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// Close stops listening, closes every connection (behaving or hostile)
// and returns when all the fleet's goroutines have ended.
func (f *Fleet) Close() {
	f.mu.Lock()
	if !f.closed {
		f.closed = true
		close(f.done)
		for _, l := range f.listeners {
			l.Close()
		}
		for c := range f.conns {
			c.Close()
		}
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// goFleet runs fn in a goroutine that Close waits for.
func (f *Fleet) goFleet(fn func()) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
}

type slowConn struct {
	net.Conn
	delay time.Duration
}

func (c slowConn) Write(p []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Write(p)
}

func (c slowConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (f *Fleet) handle(i int, c net.Conn) {
	defer c.Close()
	fault := f.Faults[i]
	if f.delay > 0 {
		c = slowConn{c, f.delay}
	}
	if fault == "" {
		_ = c.SetDeadline(time.Now().Add(deadline))
	} else {
		_ = c.SetDeadline(time.Now().Add(hostileDeadline))
	}
	switch fault {
	case StallKex:
		stallKex(c)
		return
	case GarbageVersion:
		garbageVersion(c)
		return
	}
	cfg := f.cfg
	if fault == RefuseAuth {
		cfg = f.refuse
	}
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	f.goFleet(func() { ssh.DiscardRequests(reqs) })
	for nc := range chans {
		if fault == StallOpen {
			// Neither confirmation nor failure: the client's open
			// waits. The mux goes on serving the connection as long
			// as chans is drained.
			continue
		}
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		f.goFleet(func() { f.session(i, fault, c, ch, creqs) })
	}
}

// Running gives the index of each hostile host once its command has been
// accepted (it is running its fault), so that a test can act while the
// client is known to wait on it instead of guessing how long that takes.
// Not read, it drops what does not fit (one per hostile host fits).
func (f *Fleet) Running() <-chan int { return f.running }

// session serves a session channel until its command is done (or, on a
// hostile host, as its fault says).
func (f *Fleet) session(i int, fault Fault, c net.Conn, ch ssh.Channel, creqs <-chan *ssh.Request) {
	defer ch.Close()
	for r := range creqs {
		switch r.Type {
		case "exec", "shell":
			if fault == StallExec {
				continue // no reply, ever
			}
			_ = r.Reply(true, nil)
			if fault != "" {
				select {
				case f.running <- i:
				default:
				}
				f.hostileRun(fault, c, ch, creqs)
				return
			}
			var cmd struct{ Command string }
			_ = ssh.Unmarshal(r.Payload, &cmd)
			if s, ok := strings.CutPrefix(cmd.Command, "sleep "); ok {
				if d, err := strconv.ParseFloat(s, 64); err == nil && d < 3600 {
					t := time.NewTimer(time.Duration(d * float64(time.Second)))
					select {
					case <-t.C:
					case <-f.done:
						t.Stop()
						return
					}
				}
			}
			f.uptime(ch)
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			return
		default:
			if r.WantReply {
				_ = r.Reply(r.Type == "env" || r.Type == "pty-req", nil)
			}
		}
	}
}

func (f *Fleet) uptime(ch ssh.Channel) {
	up := time.Since(f.start)
	fmt.Fprintf(ch, " %s up %d min,  1 user,  load average: 0.00, 0.00, 0.00\n", time.Now().Format("15:04:05"), int(up.Minutes()))
}
