package simfleet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// stallWait is how long a test waits to call a host stalled.
const stallWait = 300 * time.Millisecond

func clientConfig(t *testing.T) *ssh.ClientConfig {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return &ssh.ClientConfig{
		User:            "u",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
	}
}

// dial connects with the handshake bounded by limit.
func dial(cfg *ssh.ClientConfig, addr string, limit time.Duration) (net.Conn, *ssh.Client, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(limit))
	sc, chans, reqs, err := ssh.NewClientConn(c, addr, cfg)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, ssh.NewClient(sc, chans, reqs), nil
}

// blocks runs fn and checks that it is still running after stallWait and
// then after while (if not nil) has run; closing c then must end it.
func blocks(t *testing.T, c net.Conn, fn func() error, while func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	time.Sleep(stallWait)
	if while != nil {
		while()
	}
	select {
	case err := <-done:
		t.Fatalf("returned %v, want it to block", err)
	default:
	}
	c.Close()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("still blocked after the connection closed")
	}
}

// served checks that the connection still answers global requests (a
// keepalive) while its channel or request stalls.
func served(t *testing.T, cl *ssh.Client) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, _, err := cl.SendRequest("keepalive@openssh.com", true, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("keepalive: %v", err)
		}
	case <-time.After(time.Second):
		t.Error("keepalive not answered")
	}
}

func TestFaults(t *testing.T) {
	faults := map[int]Fault{}
	for i, ft := range Faults() {
		faults[i+1] = ft // host 0 behaves
	}
	f, err := StartFaults(len(faults)+1, 0, 0, faults)
	if err != nil {
		t.Skip("simulated fleet:", err)
	}
	t.Cleanup(f.Close) // after the parallel subtests
	cfg := clientConfig(t)
	addr := func(ft Fault) string {
		for i, g := range f.Faults {
			if g == ft {
				return f.Addrs[i]
			}
		}
		return f.Addrs[0]
	}
	// session dials the fault's host and starts a session on it.
	session := func(t *testing.T, ft Fault) (net.Conn, *ssh.Client, *ssh.Session) {
		t.Helper()
		c, cl, err := dial(cfg, addr(ft), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s, err := cl.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		return c, cl, s
	}
	tests := []struct {
		fault Fault
		check func(t *testing.T)
	}{
		{"", func(t *testing.T) {
			_, _, s := session(t, "")
			out, err := s.Output("uptime")
			if err != nil || !bytes.Contains(out, []byte("load average")) {
				t.Fatalf("%q, %v", out, err)
			}
		}},
		{StallKex, func(t *testing.T) {
			c, err := net.Dial("tcp", addr(StallKex))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = io.WriteString(c, "SSH-2.0-test\r\n")
			_ = c.SetReadDeadline(time.Now().Add(stallWait))
			if n, err := c.Read(make([]byte, 64)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("read %d bytes, %v: want nothing until the deadline", n, err)
			}
			start := time.Now()
			if _, _, err := dial(cfg, addr(StallKex), stallWait); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("handshake: %v, want the client's deadline", err)
			}
			if d := time.Since(start); d < stallWait {
				t.Errorf("handshake failed after %s, before the deadline", d)
			}
		}},
		{GarbageVersion, func(t *testing.T) {
			c, err := net.Dial("tcp", addr(GarbageVersion))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			got, err := io.ReadAll(c)
			if err != nil || !bytes.HasPrefix(got, []byte("HTTP/1.1 400 Bad Request\r\n")) {
				t.Errorf("read %q, %v: want an HTTP 400 and end of stream", got, err)
			}
			if _, _, err := dial(cfg, addr(GarbageVersion), time.Second); err == nil || !strings.Contains(err.Error(), "version") {
				t.Errorf("handshake: %v, want a version error", err)
			}
		}},
		{RefuseAuth, func(t *testing.T) {
			if _, _, err := dial(cfg, addr(RefuseAuth), time.Second); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
				t.Errorf("handshake: %v, want unable to authenticate", err)
			}
		}},
		{StallOpen, func(t *testing.T) {
			c, cl, err := dial(cfg, addr(StallOpen), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			blocks(t, c, func() error {
				_, err := cl.NewSession()
				return err
			}, func() { served(t, cl) })
		}},
		{StallExec, func(t *testing.T) {
			c, cl, s := session(t, StallExec)
			blocks(t, c, func() error { return s.Start("uptime") }, func() { served(t, cl) })
		}},
		{StallRun, func(t *testing.T) {
			c, cl, s := session(t, StallRun)
			var out bytes.Buffer
			s.Stdout = &out
			if err := s.Start("uptime"); err != nil {
				t.Fatal(err)
			}
			blocks(t, c, s.Wait, func() { served(t, cl) })
			if out.Len() != 0 {
				t.Errorf("output %q", out.String())
			}
		}},
		{Drip, func(t *testing.T) {
			_, _, s := session(t, Drip)
			out, _ := s.StdoutPipe()
			if err := s.Start("uptime"); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 2)
			if _, err := io.ReadFull(out, b[:1]); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := io.ReadFull(out, b[1:]); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 800*time.Millisecond || d > 2*time.Second {
				t.Errorf("second byte after %s, want about a second", d)
			}
			if string(b) != ".." {
				t.Errorf("dripped %q", b)
			}
		}},
		{Flood, func(t *testing.T) {
			_, _, s := session(t, Flood)
			out, _ := s.StdoutPipe()
			if err := s.Start("uptime"); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64<<10)
			total := 0
			for total <= 1<<20 {
				n, err := out.Read(buf)
				if err != nil {
					t.Fatalf("after %d bytes: %v", total, err)
				}
				if bytes.IndexByte(buf[:n], '\n') >= 0 {
					t.Fatal("a newline in the flood")
				}
				total += n
			}
			s.Close()
		}},
		{Drop, func(t *testing.T) {
			_, cl, s := session(t, Drop)
			out, err := s.Output("uptime")
			var missing *ssh.ExitMissingError
			if !bytes.Contains(out, []byte("load average")) || !errors.As(err, &missing) {
				t.Errorf("%q, %v: want a line and no exit status", out, err)
			}
			if err := cl.Wait(); err == nil {
				t.Error("the connection ended cleanly")
			}
		}},
		{Signal, func(t *testing.T) {
			_, _, s := session(t, Signal)
			out, err := s.Output("uptime")
			var exit *ssh.ExitError
			if !bytes.Contains(out, []byte("load average")) || !errors.As(err, &exit) || exit.Signal() != "KILL" {
				t.Errorf("%q, %v: want a line and signal KILL", out, err)
			}
		}},
	}
	if len(tests) != len(Faults())+1 {
		t.Fatal("a fault is not tested")
	}
	for _, tt := range tests {
		name := string(tt.fault)
		if name == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tt.check(t)
		})
	}
}

// Close ends every hostile connection at once and leaves no goroutine.
func TestCloseEndsStalls(t *testing.T) {
	before := runtime.NumGoroutine()
	stalls := []Fault{StallKex, GarbageVersion, StallOpen, StallExec, StallRun, Drip, Flood}
	faults := map[int]Fault{}
	for i, ft := range stalls {
		faults[i] = ft
	}
	f, err := StartFaults(len(stalls)+1, 0, 0, faults)
	if err != nil {
		t.Skip("simulated fleet:", err)
	}
	cfg := clientConfig(t)
	ended := make(chan string, 2*len(f.Addrs))
	var conns []net.Conn
	// a raw connection to every host, and an SSH one stalled where its
	// fault says (a sleeping command on the behaving host)
	for i, a := range f.Addrs {
		raw, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, raw)
		go func() {
			_, _ = io.Copy(io.Discard, raw)
			ended <- "raw " + string(f.Faults[i])
		}()
		ft := f.Faults[i]
		if ft == StallKex || ft == GarbageVersion {
			continue
		}
		c, cl, err := dial(cfg, a, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		go func() {
			_ = cl.Wait()
			ended <- "ssh " + string(ft)
		}()
		go func() {
			s, err := cl.NewSession()
			if err != nil {
				return
			}
			_ = s.Run("sleep 30")
		}()
	}
	time.Sleep(stallWait)
	closed := make(chan struct{})
	go func() {
		f.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("Close still waiting after a second")
	}
	// the raw connection to garbage-version ended already
	for range len(conns) - 1 {
		select {
		case <-ended:
		case <-time.After(time.Second):
			t.Fatal("a connection outlived Close by a second")
		}
	}
	for _, c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestParseFaults(t *testing.T) {
	for _, tt := range []struct {
		spec string
		n    int
		want map[Fault]int
	}{
		{"", 100, map[Fault]int{}},
		{"stall-open=2%,flood=1%,drop=10", 1000, map[Fault]int{StallOpen: 20, Flood: 10, Drop: 10}},
		{" flood = 1% , drop=0 ", 10, map[Fault]int{Flood: 1}}, // a percent above 0 is at least one host
		{"drip=0.5%,signal=0%", 1000, map[Fault]int{Drip: 5}},
		{"stall-kex=3,garbage-version=3,refuse-auth=3,stall-open=3,stall-exec=3,stall-run=3,drip=3,flood=3,drop=3,signal=3", 30, nil},
	} {
		got, err := ParseFaults(tt.spec, tt.n)
		if err != nil {
			t.Errorf("%q: %v", tt.spec, err)
			continue
		}
		counts := map[Fault]int{}
		for i, ft := range got {
			if i < 0 || i >= tt.n {
				t.Errorf("%q: host %d of %d", tt.spec, i, tt.n)
			}
			counts[ft]++
		}
		if tt.want == nil {
			tt.want = map[Fault]int{}
			for _, ft := range Faults() {
				tt.want[ft] = 3
			}
		}
		if !reflect.DeepEqual(counts, tt.want) {
			t.Errorf("%q: %v, want %v", tt.spec, counts, tt.want)
		}
	}
	for _, tt := range []struct{ spec, err string }{
		{"stall-open=2%,bogus=1", `unknown fault "bogus"`},
		{"flood=11", "11 hostile hosts for a fleet of 10"},
		{"flood=60%,drop=50%", "11 hostile hosts for a fleet of 10"},
		{"flood=101%", "over 100%"},
		{"flood", "want name=count"},
		{"flood=x", `bad amount "x"`},
		{"flood=-1", `bad amount "-1"`},
		{"flood=1,flood=2", "given twice"},
	} {
		if _, err := ParseFaults(tt.spec, 10); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: %v, want %q", tt.spec, err, tt.err)
		}
	}
}

// The hostile hosts are spread over the fleet, each fault's too, the same
// every time.
func TestSpread(t *testing.T) {
	const n = 1000
	spec := "stall-open=2%,flood=1%,drop=10,stall-kex=3"
	a, err := ParseFaults(spec, n)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseFaults(spec, n)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two assignments differ")
	}
	idx := slices.Sorted(maps.Keys(a))
	// 43 hosts at a stride of about 1000/43
	if idx[0] == 0 || idx[0] > 20 || idx[len(idx)-1] < n-20 {
		t.Errorf("hostile hosts from %d to %d", idx[0], idx[len(idx)-1])
	}
	for k := 1; k < len(idx); k++ {
		if gap := idx[k] - idx[k-1]; gap < 22 || gap > 24 {
			t.Errorf("gap of %d between hosts %d and %d", gap, idx[k-1], idx[k])
		}
	}
	for _, ft := range []Fault{StallOpen, Flood, Drop, StallKex} {
		var at []int
		for _, i := range idx {
			if a[i] == ft {
				at = append(at, i)
			}
		}
		if at[0] > n/len(at) || at[len(at)-1] < n-n/len(at) {
			t.Errorf("%s: hosts %v, not spread", ft, at)
		}
	}
	// a full fleet, and one fault on a single host: the middle one
	if m, err := Spread(5, map[Fault]int{Drip: 5}); err != nil || len(m) != 5 {
		t.Errorf("a full fleet: %v, %v", m, err)
	}
	if m, _ := Spread(9, map[Fault]int{Drip: 1}); !reflect.DeepEqual(m, map[int]Fault{4: Drip}) {
		t.Errorf("one of 9: %v", m)
	}
}

func TestWriteInventory(t *testing.T) {
	faults := map[int]Fault{1: StallOpen, 3: Flood, 4: StallOpen}
	f, err := StartFaults(5, 0, 0, faults)
	if err != nil {
		t.Skip("simulated fleet:", err)
	}
	defer f.Close()
	dir := t.TempDir()
	if err := f.WriteInventory(dir, "bench"); err != nil {
		t.Fatal(err)
	}
	ini, _ := os.ReadFile(filepath.Join(dir, "inventory.ini"))
	for _, want := range []string{
		"[fleet]\nh0000 ansible_host=127.1.1.1 ansible_port=",
		"\nh0004 ansible_host=127.1.1.5 ansible_port=",
		"\n[stall_open]\nh0001\nh0004\n[flood]\nh0003\n[healthy]\nh0000\nh0002\n[all:vars]\nansible_user=bench\n",
	} {
		if !strings.Contains(string(ini), want) {
			t.Errorf("inventory.ini:\n%s\nwant %q", ini, want)
		}
	}
	var got map[string]Fault
	js, _ := os.ReadFile(filepath.Join(dir, "faults.json"))
	if err := json.Unmarshal(js, &got); err != nil || !reflect.DeepEqual(got, map[string]Fault{"h0001": StallOpen, "h0003": Flood, "h0004": StallOpen}) {
		t.Errorf("faults.json: %s, %v", js, err)
	}
	pssh, _ := os.ReadFile(filepath.Join(dir, "pssh-hosts"))
	if lines := strings.Split(strings.TrimSpace(string(pssh)), "\n"); len(lines) != 5 || !strings.HasPrefix(lines[2], "bench@127.1.1.3:") {
		t.Errorf("pssh-hosts: %q", pssh)
	}
}
