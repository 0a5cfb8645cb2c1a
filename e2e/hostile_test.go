//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The hostile fleet of issue "Fan-out under hostile hosts": 1,000
// simulated hosts, 5 % stalling (spread over the phases before and after
// the command starts), 1 % flooding, 1 % dropping mid-command, 1 %
// refusing authentication, and a few of every other fault.
const hostileFaults = "stall-kex=13,stall-open=12,stall-exec=13,stall-run=12,flood=10,drop=10,refuse-auth=10,garbage-version=5,drip=5,signal=5"

// The class each fault's hosts must end in under -T 2 --command-timeout 5.
var hostileClass = map[string]string{
	"stall-kex": "unreachable", "garbage-version": "unreachable", "refuse-auth": "unreachable",
	"stall-open": "unreachable", "stall-exec": "unreachable",
	"stall-run": "timed-out", "drip": "timed-out", "flood": "timed-out",
	"drop": "failed", "signal": "failed",
}

// startFleet serves n simulated hosts with faults on 127.1.x.y:2290 and
// returns the directory of its inventory.ini and faults.json.
func startFleet(t *testing.T, n int, faults string) (string, map[string]string) {
	dir, byHost, _ := startFleetRunning(t, n, faults)
	return dir, byHost
}

// startFleetRunning is startFleet that also gives, as ops-fleet reports
// them, the names of hostile hosts whose command has been accepted.
func startFleetRunning(t *testing.T, n int, faults string) (string, map[string]string, <-chan string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops-fleet"), "-n", strconv.Itoa(n), "-port", "2290", "-out", dir, "-faults", faults)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	ready := make(chan bool, 1)
	running := make(chan string, n)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			} else if h, ok := strings.CutPrefix(sc.Text(), "running "); ok {
				running <- h
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("ops-fleet ended before it was ready")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ops-fleet did not start")
	}
	b, err := os.ReadFile(filepath.Join(dir, "faults.json"))
	if err != nil {
		t.Fatal(err)
	}
	byHost := map[string]string{}
	if err := json.Unmarshal(b, &byHost); err != nil {
		t.Fatal(err)
	}
	return dir, byHost, running
}

// hostileExec starts ops exec on the fleet with the run log on (a local
// log only) and returns the command, its output buffers and the log dir.
func hostileExec(t *testing.T, dir string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer, string) {
	t.Helper()
	logDir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, logDir) }) // before the directory goes
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), "exec", "-i", filepath.Join(dir, "inventory.ini"),
		"-f", "1000", "-T", "2", "--command-timeout", "5", "fleet", "--", "uptime")
	cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()},
		labEnv(t, "OPS_CONFIG=/dev/null", "OPS_LOG_DIR="+logDir, "OPS_LOG_PROJECT=hostile",
			"OPS_SSH_KNOWN_HOSTS="+filepath.Join(t.TempDir(), "known_hosts"))...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out, &errb, logDir
}

// loggedHosts reads the newest run-log entry: its subject and the result
// of every host in its header.
func loggedHosts(t *testing.T, logDir string) (string, map[string]string) {
	t.Helper()
	subject := strings.TrimSpace(gitOut(t, logDir, "log", "-1", "--format=%s", "hostile"))
	path := strings.TrimSpace(gitOut(t, logDir, "show", "--name-only", "--format=", "hostile"))
	entry := gitOut(t, logDir, "show", "hostile:"+path)
	parts := strings.SplitN(entry, "---\n", 3)
	if len(parts) < 3 {
		t.Fatalf("entry without a header:\n%.2000s", entry)
	}
	var h struct {
		Hosts []struct{ Name, Result string }
	}
	if err := yaml.Unmarshal([]byte(parts[1]), &h); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, x := range h.Hosts {
		got[x.Name] = x.Result
	}
	return subject, got
}

func TestExecUnderHostileHosts(t *testing.T) {
	labState(t)
	dir, faults := startFleet(t, 1000, hostileFaults)
	start := time.Now()
	cmd, out, errb, logDir := hostileExec(t, dir)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("ops exec did not end within 60 s on the hostile fleet\n%.3000s", errb.String())
	}
	t.Logf("1000 hosts, %d hostile: %s", len(faults), time.Since(start))
	if code := cmd.ProcessState.ExitCode(); code != 6 {
		t.Errorf("exit %d, want 6 (failed or timed out, and unreachable)", code)
	}
	// The recap accounts for every host, in its class.
	recap := errb.String()[strings.LastIndex(errb.String(), "EXEC RECAP"):]
	inRecap := map[string]string{}
	for _, l := range strings.Split(recap, "\n")[1:] {
		if f := strings.Fields(l); len(f) >= 3 && f[1] == ":" {
			inRecap[f[0]] = f[2]
		}
	}
	_, inLog := loggedHosts(t, logDir)
	for _, where := range []struct {
		name string
		got  map[string]string
	}{{"recap", inRecap}, {"run log", inLog}} {
		if len(where.got) != 1000 {
			t.Errorf("%s: %d hosts, want 1000", where.name, len(where.got))
		}
		wrong := 0
		for h, class := range where.got {
			want := "ok"
			if f, ok := faults[h]; ok {
				want = hostileClass[f]
			}
			if class != want {
				if wrong++; wrong <= 10 {
					t.Errorf("%s: %s (%s): %s, want %s", where.name, h, faults[h], class, want)
				}
			}
		}
	}
	// A flood reaches the terminal as one cut line, nothing more.
	if n := strings.Count(out.String(), "[ops: line cut at the line limit]"); n != 10 {
		t.Errorf("%d cut lines, want one per flooding host (10)", n)
	}
	if out.Len() > 4<<20 {
		t.Errorf("%d bytes of output for 10 flooding hosts", out.Len())
	}
}

// Ctrl-C (and SIGTERM) in the middle of the hostile run: the run ends at
// once, with the recap, exit 130 (143), and is logged [interrupted] with
// every host.
func TestExecInterruptedUnderHostileHosts(t *testing.T) {
	labState(t)
	dir, faults, running := startFleetRunning(t, 1000, hostileFaults)
	var stalls int
	for _, f := range faults {
		if hostileClass[f] == "timed-out" {
			stalls++
		}
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		for len(running) > 0 { // the previous run's
			<-running
		}
		cmd, _, errb, logDir := hostileExec(t, dir)
		// The signal comes once every host that times out is running its
		// command (ops-fleet says so), well before the 5 s command timeout.
		started := time.Now()
		seen := map[string]bool{}
		for len(seen) < stalls {
			select {
			case h := <-running:
				if hostileClass[faults[h]] == "timed-out" {
					seen[h] = true
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("%s: %d of %d stalling hosts running after 30 s", tc.sig, len(seen), stalls)
			}
		}
		// The fleet has answered the last exec; ops has yet to read the
		// answer (on a loaded machine, behind the floods): a moment for it.
		time.Sleep(time.Second)
		if d := time.Since(started); d > 4*time.Second {
			t.Logf("%s: the stalling hosts were all running only %s after the start; the 5 s timeout may come first", tc.sig, d)
		}
		sent := time.Now()
		cmd.Process.Signal(tc.sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%s: ops exec still running 20 s after the signal", tc.sig)
		}
		t.Logf("%s: ended %s after the signal", tc.sig, time.Since(sent))
		if code := cmd.ProcessState.ExitCode(); code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%.2000s", tc.sig, code, tc.code, errb.String())
		}
		if !strings.Contains(errb.String(), "EXEC RECAP") {
			t.Errorf("%s: no recap", tc.sig)
		}
		subject, hosts := loggedHosts(t, logDir)
		if !strings.HasPrefix(subject, "[interrupted] ") || len(hosts) != 1000 {
			t.Errorf("%s: logged %q with %d hosts", tc.sig, subject, len(hosts))
		}
		for h, f := range faults {
			if hostileClass[f] == "timed-out" && hosts[h] != "interrupted" {
				t.Errorf("%s: %s (%s) running at the signal: %s, want interrupted", tc.sig, h, f, hosts[h])
			}
		}
	}
}

// An interrupted run does not wait for the log push either (here to a
// remote that accepts TCP and never answers): the entry is committed
// locally and ops exits 130 right after the recap; the push goes on
// detached, bounded.
func TestExecInterruptDoesNotWaitForThePush(t *testing.T) {
	labState(t)
	dir, _ := startFleet(t, 50, "stall-run=5")
	silent := silentListener(t)
	logDir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, logDir) }) // before the directory goes
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), "exec", "-i", filepath.Join(dir, "inventory.ini"), "fleet", "--", "uptime")
	cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()},
		labEnv(t, "OPS_CONFIG=/dev/null", "OPS_LOG_DIR="+logDir, "OPS_LOG_PROJECT=hostile",
			"OPS_LOG_REMOTE=ssh://nobody@"+silent.Addr().String()+"/log.git",
			"OPS_SSH_KNOWN_HOSTS="+filepath.Join(t.TempDir(), "known_hosts"))...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The detached pusher outlives ops: end its push (the remote hangs
	// up) and wait for it before the log's directory is removed.
	t.Cleanup(func() { silent.Close(); waitForPushers(t, logDir) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(1500 * time.Millisecond) // the stalled hosts hold the run
	signalled := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running 5 s after the interrupt (waiting for the push?)\n%s", errb.String())
	}
	if took := time.Since(signalled); took > 3*time.Second {
		t.Errorf("ended %s after the interrupt", took)
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130\n%s", code, errb.String())
	}
	if subject, hosts := loggedHosts(t, logDir); !strings.HasPrefix(subject, "[interrupted] ") || len(hosts) != 50 {
		t.Errorf("logged %q with %d hosts", subject, len(hosts))
	}
}

// waitForPushers waits (at most a minute) until no detached `ops log
// __push` holds a push lock of the log clone in dir.
func waitForPushers(t *testing.T, dir string) {
	t.Helper()
	locks, _ := filepath.Glob(filepath.Join(dir, ".git", "ops-push-*.lock"))
	for _, p := range locks {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		for end := time.Now().Add(time.Minute); ; {
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
				break
			}
			if time.Now().After(end) {
				t.Errorf("a log pusher still holds %s after a minute", p)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		f.Close()
	}
}

// silentListener accepts TCP and never says a word, until the test ends.
func silentListener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l
}
