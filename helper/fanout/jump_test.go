package fanout

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ops-team/ops/helper/sshx"
)

// testServer is an in-process SSH server on 127.0.0.1 that answers exec
// with "ok" and exit 0, and, as a jump host, opens direct-tcpip channels.
type testServer struct {
	Addr    string
	conns   atomic.Int64 // TCP connections accepted
	tunnels atomic.Int64 // direct-tcpip channels opened
	ended   atomic.Int64 // SSH connections that ended
	freeze  bool         // on a direct-tcpip open, stop reading the client (a frozen link)

	frozen chan struct{} // closed at cleanup: frozen reads end
	mu     sync.Mutex
	open   []net.Conn
}

func signerOf(t *testing.T, key any) ssh.Signer {
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ed25519Signer(t *testing.T) ssh.Signer {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return signerOf(t, priv)
}

func startServer(t *testing.T, hostKeys ...ssh.Signer) *testServer {
	t.Helper()
	return startServerAt(t, "127.0.0.1:0", hostKeys...)
}

func startServerAt(t *testing.T, addr string, hostKeys ...ssh.Signer) *testServer {
	t.Helper()
	if len(hostKeys) == 0 {
		hostKeys = []ssh.Signer{ed25519Signer(t)}
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	for _, k := range hostKeys {
		cfg.AddHostKey(k)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{Addr: l.Addr().String(), frozen: make(chan struct{})}
	t.Cleanup(func() {
		l.Close()
		close(s.frozen)
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			go s.serve(c, cfg)
		}
	}()
	return s
}

// freezable stops reading once frozen, until the test ends.
type freezable struct {
	net.Conn
	frozen atomic.Bool
	end    <-chan struct{}
}

func (f *freezable) Read(p []byte) (int, error) {
	if f.frozen.Load() {
		<-f.end
		return 0, io.EOF
	}
	return f.Conn.Read(p)
}

func (s *testServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	fc := &freezable{Conn: c, end: s.frozen}
	_, chans, reqs, err := ssh.NewServerConn(fc, cfg)
	if err != nil {
		c.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	defer s.ended.Add(1)
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
			}
			go func() {
				for r := range creqs {
					if r.Type != "exec" {
						r.Reply(false, nil)
						continue
					}
					r.Reply(true, nil)
					fmt.Fprintf(ch, "ok from %s\n", s.Addr)
					ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
					ch.Close()
				}
			}()
		case "direct-tcpip":
			var d struct {
				Host  string
				Port  uint32
				OHost string
				OPort uint32
			}
			if err := ssh.Unmarshal(nc.ExtraData(), &d); err != nil {
				nc.Reject(ssh.ConnectionFailed, "bad payload")
				continue
			}
			s.tunnels.Add(1)
			if s.freeze {
				ch, _, err := nc.Accept()
				if err == nil {
					fc.frozen.Store(true)
					defer ch.Close()
				}
				continue
			}
			tc, err := net.DialTimeout("tcp", net.JoinHostPort(d.Host, strconv.Itoa(int(d.Port))), 2*time.Second)
			if err != nil {
				nc.Reject(ssh.ConnectionFailed, err.Error())
				continue
			}
			ch, creqs, err := nc.Accept()
			if err != nil {
				tc.Close()
				continue
			}
			go ssh.DiscardRequests(creqs)
			go func() { io.Copy(tc, ch); tc.Close() }()
			go func() { io.Copy(ch, tc); ch.Close() }()
		default:
			nc.Reject(ssh.UnknownChannelType, "no")
		}
	}
}

func clientOptions(t *testing.T) Options {
	signer := ed25519Signer(t)
	return Options{Forks: 20, Command: "uptime", ConnectTimeout: 3 * time.Second, HostKey: ssh.InsecureIgnoreHostKey(), Collect: true,
		Auth: func() []ssh.AuthMethod { return []ssh.AuthMethod{ssh.PublicKeys(signer)} }}
}

// A host that OpenSSH recorded as ed25519 and that also has an ECDSA key
// (which x/crypto/ssh asks for first) is accepted when the algorithms
// asked for are those known_hosts holds for it, as OpenSSH does; without
// them the ECDSA key is taken for a changed one.
func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edKey := ed25519Signer(t)
	srv := startServer(t, signerOf(t, ecKey), edKey)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, edKey.PublicKey())
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hk := &sshx.HostKeys{Path: kh, Strict: true}
	o := clientOptions(t)
	o.HostKey = hk.Callback()
	target := Target{Name: "h", Addr: srv.Addr, User: "u"}

	r := Run(context.Background(), []Target{target}, o)[0]
	if r.Status != Unreachable || !strings.Contains(r.Error, "HOST KEY CHANGED") {
		t.Fatalf("without the known algorithms: %s %q (want the ECDSA key refused as changed)", r.Status, r.Error)
	}
	o.HostKeyAlgorithms = hk.Algorithms
	if r := Run(context.Background(), []Target{target}, o)[0]; r.Status != OK {
		t.Errorf("with Options.HostKeyAlgorithms: %s %q", r.Status, r.Error)
	}
	o.HostKeyAlgorithms = nil
	target.HostKeyAlgorithms = hk.Algorithms(srv.Addr)
	if r := Run(context.Background(), []Target{target}, o)[0]; r.Status != OK {
		t.Errorf("with Target.HostKeyAlgorithms: %s %q", r.Status, r.Error)
	}
	// A target's own host key check wins over the run's.
	o.HostKey = ssh.InsecureIgnoreHostKey()
	target.HostKey = (&sshx.HostKeys{Path: filepath.Join(t.TempDir(), "empty"), Strict: true}).Callback()
	target.HostKeyAlgorithms = nil
	if r := Run(context.Background(), []Target{target}, o)[0]; r.Status != Unreachable || !strings.Contains(r.Error, "StrictHostKeyChecking is yes") {
		t.Errorf("a target's strict host key check: %s %q", r.Status, r.Error)
	}
}

// Targets behind one jump host share one connection to it, and a second
// hop reached through the first shares the first's; every target is
// reached through a tunnel of its own.
func TestTargetsBehindOneJumpShareItsConnection(t *testing.T) {
	j1, j2 := startServer(t), startServer(t)
	var targets []Target
	var servers []*testServer
	for i := 0; i < 4; i++ {
		servers = append(servers, startServer(t))
	}
	hop1 := JumpHop{Addr: j1.Addr, User: "jumper"}
	hop2 := JumpHop{Addr: j2.Addr, User: "inner"}
	for i := 0; i < 12; i++ {
		tg := Target{Name: fmt.Sprintf("t%d", i), Addr: servers[i%4].Addr, User: "u", Jump: []JumpHop{hop1}}
		if i >= 8 {
			tg.Jump = []JumpHop{hop1, hop2}
		}
		targets = append(targets, tg)
	}
	direct := startServer(t)
	targets = append(targets, Target{Name: "direct", Addr: direct.Addr, User: "u"})
	o := clientOptions(t)
	for _, r := range Run(context.Background(), targets, o) {
		if r.Status != OK || !strings.HasPrefix(string(r.Stdout), "ok from ") {
			t.Errorf("%s: %s %q %q", r.Host, r.Status, r.Error, r.Stdout)
		}
	}
	if n := j1.conns.Load(); n != 1 {
		t.Errorf("%d connections to the first jump host, want 1", n)
	}
	if n := j2.conns.Load(); n != 1 {
		t.Errorf("%d connections to the second jump host, want 1", n)
	}
	if n := j1.tunnels.Load(); n != 8+1 {
		t.Errorf("%d tunnels through the first jump host, want 9 (8 targets and the second hop)", n)
	}
	if n := j2.tunnels.Load(); n != 4 {
		t.Errorf("%d tunnels through the second jump host, want 4", n)
	}
	// Run closed the jump connections: the jump hosts see them end.
	for end := time.Now().Add(2 * time.Second); j1.ended.Load()+j2.ended.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("jump connections still open after Run: %d and %d ended", j1.ended.Load(), j2.ended.Load())
		}
	}
}

// A dead jump host (refusing, or silent) makes every target behind it
// unreachable with a message naming it, within the connect timeout, and is
// dialled once.
func TestDeadJumpHostMakesItsTargetsUnreachable(t *testing.T) {
	good := startServer(t)
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedAddr := refused.Addr().String()
	refused.Close()
	silent, _ := net.Listen("tcp", "127.0.0.1:0")
	var silentConns atomic.Int64
	var held sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			silentConns.Add(1)
			held.Add(1)
			go func() { defer held.Done(); <-stop; c.Close() }()
		}
	}()
	t.Cleanup(func() { silent.Close(); close(stop); held.Wait() })

	for name, jumpAddr := range map[string]string{"refusing": refusedAddr, "silent": silent.Addr().String()} {
		o := clientOptions(t)
		o.ConnectTimeout = 500 * time.Millisecond
		o.Forks = 3 // later targets start after the first ones gave up
		var targets []Target
		for i := 0; i < 6; i++ {
			targets = append(targets, Target{Name: fmt.Sprintf("t%d", i), Addr: good.Addr, User: "u", Jump: []JumpHop{{Addr: jumpAddr, User: "j"}}})
		}
		targets = append(targets, Target{Name: "direct", Addr: good.Addr, User: "u"})
		start := time.Now()
		results := Run(context.Background(), targets, o)
		took := time.Since(start)
		for _, r := range results[:6] {
			if r.Status != Unreachable || !strings.Contains(r.Error, "jump host j@"+jumpAddr) {
				t.Errorf("%s: %s: %s %q", name, r.Host, r.Status, r.Error)
			}
		}
		if r := results[6]; r.Status != OK {
			t.Errorf("%s: the direct target: %s %q", name, r.Status, r.Error)
		}
		if took > o.ConnectTimeout+time.Second {
			t.Errorf("%s: took %s with a connect timeout of %s", name, took, o.ConnectTimeout)
		}
		t.Logf("%s: %s, %q", name, took, results[0].Error)
	}
	if n := silentConns.Load(); n != 1 {
		t.Errorf("the silent jump host was dialled %d times, want 1", n)
	}
}

// A jump host whose link freezes after opening a target's tunnel (it reads
// nothing more, so never answers the channel close) still leaves the
// target bounded by its connect timeout: closing the tunnel ends its waits
// at once.
func TestFrozenJumpHostIsBounded(t *testing.T) {
	jump := startServer(t)
	jump.freeze = true
	target := startServer(t)
	o := clientOptions(t)
	o.ConnectTimeout = 300 * time.Millisecond
	start := time.Now()
	r := Run(context.Background(), []Target{{Name: "t", Addr: target.Addr, User: "u", Jump: []JumpHop{{Addr: jump.Addr, User: "j"}}}}, o)[0]
	took := time.Since(start)
	if r.Status != Unreachable || !strings.Contains(r.Error, "no SSH handshake within") {
		t.Errorf("%s %q", r.Status, r.Error)
	}
	if took > o.ConnectTimeout+time.Second {
		t.Errorf("took %s with a connect timeout of %s", took, o.ConnectTimeout)
	}
}

// An interrupt while targets wait for their jump host ends them at once as
// not started.
func TestInterruptWhileWaitingForTheJumpHost(t *testing.T) {
	silent, _ := net.Listen("tcp", "127.0.0.1:0")
	stop := make(chan struct{})
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { <-stop; c.Close() }()
		}
	}()
	t.Cleanup(func() { silent.Close(); close(stop) })
	o := clientOptions(t)
	o.ConnectTimeout = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	results := Run(ctx, []Target{
		{Name: "a", Addr: "127.0.0.1:1", User: "u", Jump: []JumpHop{{Addr: silent.Addr().String(), User: "j"}}},
		{Name: "b", Addr: "127.0.0.1:2", User: "u", Jump: []JumpHop{{Addr: silent.Addr().String(), User: "j"}}},
	}, o)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s after an interrupt at 200ms", took)
	}
	for _, r := range results {
		if r.Status != NotStarted {
			t.Errorf("%s: %s %q", r.Host, r.Status, r.Error)
		}
	}
}
