package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/creack/pty"
	"github.com/ops-team/ops/helper/fanout"
	"github.com/ops-team/ops/helper/runlog"
	"github.com/ops-team/ops/internal/simfleet"
)

// serveAgent serves an in-memory agent holding one key on a socket.
func serveAgent(t *testing.T) string {
	t.Helper()
	kr := agent.NewKeyring()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if err := kr.Add(agent.AddedKey{PrivateKey: priv, Comment: "operator"}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(kr, c); c.Close() }()
		}
	}()
	return sock
}

// countingListener stands for a target and counts who connected.
func countingListener(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return l.Addr().String(), &n
}

// A restriction of the forwarded agent that matches no key is a mistake
// the operator must hear of before anything runs (it used to be dropped
// silently, and the first target to open an agent channel crashed ops).
func TestExecAgentRestrictionMatchingNoKeyIsRefused(t *testing.T) {
	addr, conns := countingListener(t)
	host, port, _ := net.SplitHostPort(addr)
	inv := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(inv, []byte("t1 ansible_host="+host+" ansible_port="+port+" ansible_user=u\n"), 0o644)
	t.Setenv("SSH_AUTH_SOCK", serveAgent(t))
	t.Setenv("OPS_LOG_ENABLED", "false")
	t.Setenv("OPS_SSH_KNOWN_HOSTS", filepath.Join(t.TempDir(), "known_hosts"))
	t.Setenv("OPS_SSH_AGENT_KEYS", "SHA256:nosuchkey")
	code, out, errs := runArgs(context.Background(), t, "exec", "-i", inv, "--forward-agent", "all", "--", "true")
	if code != 2 || out != "" || !strings.Contains(errs, "no key in the agent matches") || strings.Count(errs, "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if conns.Load() != 0 {
		t.Errorf("%d connections to the target before the refusal", conns.Load())
	}
	// The key's own comment matches: the run goes on (and reaches the target).
	t.Setenv("OPS_SSH_AGENT_KEYS", "operator")
	code, _, errs = runArgs(context.Background(), t, "exec", "-i", inv, "-T", "2s", "--forward-agent", "all", "--", "true")
	if code != 4 || conns.Load() == 0 {
		t.Errorf("allowed key: exit %d (want 4: the target is no SSH server), %d connections\n%s", code, conns.Load(), errs)
	}
}

func TestEscapeControls(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text\twith tab", "plain text\twith tab"},
		{"\x1b[2J\x1b[Hforged", `\x1b[2J\x1b[Hforged`},
		{"ok\rlab07 | fake", `ok\x0dlab07 | fake`},
		{"bell\x07 del\x7f", `bell\x07 del\x7f`},
		{"日本語 ünïcode", "日本語 ünïcode"},
		{"c1 \u009b31m", `c1 \u009b31m`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{"two\nlines", `two\x0alines`},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		escapeControls(&b, []byte(tc.in), false)
		if b.String() != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, b.String(), tc.want)
		}
	}
	var b bytes.Buffer
	escapeControls(&b, []byte("kept\noutput\x1b\n"), true)
	if b.String() != "kept\noutput\\x1b\n" {
		t.Errorf("kept output: %q", b.String())
	}
}

// A host's streamed line cannot reach the terminal raw, unless --raw.
func TestStreamedLinesAreEscaped(t *testing.T) {
	var out bytes.Buffer
	d := &deps{streams: streams{out: &out, err: &bytes.Buffer{}}}
	p := newExecPrinter(d, execOptions{}, []string{"web1", "db"})
	p.streamLine("db", false, []byte("\x1b[1A\rweb1 | all good"), false)
	p.streamLine("web1", true, []byte("long"), true)
	want := "db   | \\x1b[1A\\x0dweb1 | all good\nweb1 ! long" + fanout.CutMark + "\n"
	if out.String() != want {
		t.Errorf("%q, want %q", out.String(), want)
	}
	out.Reset()
	p = newExecPrinter(d, execOptions{fanFlags: fanFlags{raw: true}}, []string{"db"})
	p.streamLine("db", false, []byte("\x1b[1m"), false)
	if out.String() != "db | \x1b[1m\n" {
		t.Errorf("--raw: %q", out.String())
	}
}

// --json says "exit": null for a host that gave no exit status, never 0.
func TestJSONExitIsNullWithoutStatus(t *testing.T) {
	for _, tc := range []struct {
		r    fanout.Result
		want any
	}{
		{fanout.Result{Host: "u", Status: fanout.Unreachable, Exit: -1}, nil},
		{fanout.Result{Host: "o", Status: fanout.OK, Exit: 0}, 0},
		{fanout.Result{Host: "f", Status: fanout.Failed, Exit: 3}, 3},
	} {
		if got := jsonResult(tc.r)["exit"]; got != tc.want {
			t.Errorf("%s: exit %v, want %v", tc.r.Host, got, tc.want)
		}
	}
}

func TestExecExitCodes(t *testing.T) {
	tests := []struct {
		counts map[fanout.Status]int
		code   int
	}{
		{map[fanout.Status]int{fanout.OK: 3}, 0},
		{map[fanout.Status]int{fanout.OK: 3, fanout.Failed: 1}, 2},
		{map[fanout.Status]int{fanout.TimedOut: 1}, 2},
		{map[fanout.Status]int{fanout.NotStarted: 1}, 2},
		{map[fanout.Status]int{fanout.Unreachable: 1}, 4},
		{map[fanout.Status]int{fanout.Unreachable: 1, fanout.TimedOut: 2}, 6},
	}
	for _, tc := range tests {
		if got := execExit(tc.counts); got != tc.code {
			t.Errorf("%v: %d, want %d", tc.counts, got, tc.code)
		}
	}
}

// After a second interrupt the run is committed to the local log and not
// pushed (the push may hang on a dead link; ops log push sends it later).
func TestHurriedRunIsCommittedLocallyOnly(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git:", err)
	}
	remote := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", remote).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	logDir := filepath.Join(t.TempDir(), "log")
	addr, _ := countingListener(t)
	host, port, _ := net.SplitHostPort(addr)
	inv := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(inv, []byte("t1 ansible_host="+host+" ansible_port="+port+" ansible_user=u\n"), 0o644)
	t.Setenv("SSH_AUTH_SOCK", serveAgent(t))
	t.Setenv("OPS_SSH_KNOWN_HOSTS", filepath.Join(t.TempDir(), "known_hosts"))
	t.Setenv("OPS_LOG_DIR", logDir)
	t.Setenv("OPS_LOG_REMOTE", remote)
	t.Setenv("OPS_LOG_PROJECT", "p")
	t.Setenv("OPS_CONFIG", "")
	t.Chdir(t.TempDir())
	run1 := func(hurry chan struct{}) string {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"ops", "exec", "-i", inv, "-T", "2s", "all", "--", "true"},
			streams{in: strings.NewReader(""), out: &out, err: &errb, hurry: hurry})
		if code != 4 {
			t.Errorf("exit %d, want 4\n%s", code, errb.String())
		}
		return errb.String()
	}
	hurried := make(chan struct{})
	close(hurried)
	errs := run1(hurried)
	if !strings.Contains(errs, "not pushed") {
		t.Errorf("stderr %q", errs)
	}
	if n := gitCount(t, logDir, "p"); n != 1 {
		t.Errorf("%d local entries, want 1", n)
	}
	waitPushed(t, logDir, "p") // no pusher was started; none may push it later
	if n := gitCount(t, remote, "p"); n != 0 {
		t.Errorf("%d entries pushed while hurried", n)
	}
	// The next run pushes both, in the background.
	run1(nil)
	waitPushed(t, logDir, "p")
	if n := gitCount(t, remote, "p"); n != 2 {
		t.Errorf("%d entries on the remote after a normal run, want 2", n)
	}
}

func gitCount(t *testing.T, dir, branch string) int {
	out, err := exec.Command("git", "-C", dir, "rev-list", "--count", branch).Output()
	if err != nil {
		return 0
	}
	n := 0
	fmt.Sscan(string(out), &n)
	return n
}

// --deadline ends the run with the recap and the exit table (a host still
// running is timed out: 2), never as a failure of ops itself.
func TestExecDeadlineEndsWithTheRecap(t *testing.T) {
	fleet, err := simfleet.StartFaults(3, 0, 0, map[int]simfleet.Fault{1: simfleet.StallRun})
	if err != nil {
		t.Skip("simulated fleet:", err)
	}
	defer fleet.Close()
	dir := t.TempDir()
	if err := fleet.WriteInventory(dir, "u"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_AUTH_SOCK", serveAgent(t))
	t.Setenv("OPS_LOG_ENABLED", "false")
	t.Setenv("OPS_SSH_KNOWN_HOSTS", filepath.Join(t.TempDir(), "known_hosts"))
	code, out, errs := runArgs(context.Background(), t, "exec", "-i", filepath.Join(dir, "inventory.ini"), "--deadline", "1", "--json", "all", "--", "uptime")
	if code != 2 || strings.Contains(errs, "context deadline") || !strings.Contains(errs, simfleet.HostName(1)+" : timed-out\n") {
		t.Errorf("exit %d\n%s", code, errs)
	}
	if strings.Count(out, `"status":"ok"`) != 2 || !strings.Contains(out, `"exit":null`) {
		t.Errorf("json: %s", out)
	}
}

// Ansible's ad-hoc grammar: bundled short flags, seconds, -m raw -a, any
// pattern (help included); flags ops does not implement are refused by
// name.
func TestParseExecArgs(t *testing.T) {
	tests := []struct {
		args  string
		check func(execOptions) bool
		err   string
	}{
		{"-bK -f50 -uroot all -- id -u", func(o execOptions) bool {
			return o.become && o.askBecomePass && o.forks == 50 && o.user == "root" && o.pattern == "all" && strings.Join(o.args, " ") == "id -u"
		}, ""},
		{"-T 10 --command-timeout 1m30s --deadline 2.5 web -- true", func(o execOptions) bool {
			return o.connectTimeout == 10*time.Second && o.commandTimeout == 90*time.Second && o.deadline == 2500*time.Millisecond
		}, ""},
		{"-i a -i b,c, -l web1 -e x=1 -e @vars.yml all -m raw -a uptime", func(o execOptions) bool {
			return strings.Join(o.inventories, "|") == "a|b,c," && o.limit == "web1" && len(o.extraVars) == 2 && strings.Join(o.args, " ") == "uptime"
		}, ""},
		{"help -- true", func(o execOptions) bool { return o.pattern == "help" }, ""},
		{"h --list-hosts", func(o execOptions) bool { return o.pattern == "h" && o.listHosts }, ""},
		{"-vvv all -- true", func(o execOptions) bool { return o.verbose == 3 }, ""},
		{"all --script s.sh one -x", func(o execOptions) bool {
			return o.script == "s.sh" && strings.Join(o.args, " ") == "one -x"
		}, "unknown shorthand flag: 'x'"},
		{"all --script s.sh -- one -x", func(o execOptions) bool {
			return o.script == "s.sh" && strings.Join(o.args, " ") == "one -x"
		}, ""},
		{"-k all -- true", nil, "exec: -k/--ask-pass is not implemented: ops connects with keys only"},
		{"-C all -- true", nil, "-C/--check is not implemented"},
		{"--vault-password-file f all -- true", nil, "--vault-password-file is not implemented"},
		{"-m shell -a uptime all", nil, "exec: -m shell is not implemented"},
		{"--become-method su all -- true", nil, "only sudo"},
		{"--bogus all -- true", nil, "exec: unknown flag: --bogus"},
		{"-T x all -- true", nil, "neither seconds nor a duration"},
		{"all -a uptime -- id", nil, "do not go together"},
		{"all", nil, "needs a command"},
	}
	for _, tc := range tests {
		o, err := parseExecArgs(strings.Fields(tc.args))
		switch {
		case tc.err != "":
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &ue) {
				t.Errorf("%q: %v, want a usage error with %q", tc.args, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case !tc.check(o):
			t.Errorf("%q: %+v", tc.args, o)
		}
	}
}

func TestLimitFromAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "retry")
	os.WriteFile(f, []byte("web1\n\n web2 \n"), 0o644)
	o := fanFlags{limit: "@" + f}
	if p, err := o.limitPattern(); err != nil || p != "web1,web2" {
		t.Errorf("%q %v", p, err)
	}
	o.limit = "@/nonexistent"
	if _, err := o.limitPattern(); err == nil {
		t.Error("a missing limit file is not an error")
	}
}

// The log push is cut by an interrupt that comes while it runs: the first
// one after a run that was not interrupted, the second after one that was.
func TestPushContextEndsAtTheNextInterrupt(t *testing.T) {
	for _, runInterrupted := range []bool{false, true} {
		run, interrupt := context.WithCancel(context.Background())
		defer interrupt()
		if runInterrupted {
			interrupt()
		}
		hurry := make(chan struct{})
		d := &deps{streams: streams{hurry: hurry}}
		pctx, stop := d.pushContext(run, context.Background())
		time.Sleep(20 * time.Millisecond)
		if pctx.Err() != nil {
			t.Fatalf("interrupted=%v: the push was cut before any new interrupt", runInterrupted)
		}
		if runInterrupted {
			close(hurry)
		} else {
			interrupt()
		}
		select {
		case <-pctx.Done():
		case <-time.After(time.Second):
			t.Errorf("interrupted=%v: the push went on after the next interrupt", runInterrupted)
		}
		stop()
	}
}

// echoServer is a hostile target: it prints the become prompt it finds in
// the command line, reads the answer from stdin and prints it back.
func echoServer(t *testing.T) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, _ := ssh.NewSignerFromKey(priv)
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(hostKey)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	prompt := regexp.MustCompile(`-p '(\[ops-become-[0-9a-f]+\])'`)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					ch, creqs, _ := nc.Accept()
					for r := range creqs {
						var cmd struct{ Command string }
						ssh.Unmarshal(r.Payload, &cmd)
						r.Reply(r.Type == "exec", nil)
						if r.Type != "exec" {
							continue
						}
						m := prompt.FindStringSubmatch(cmd.Command)
						if m == nil {
							ch.Close()
							return
						}
						io.WriteString(ch.Stderr(), m[1])
						line, _ := bufio.NewReader(ch).ReadString('\n')
						fmt.Fprintf(ch, "you typed: %s", line)
						ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
						ch.Close()
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// A target can echo the become password back: it shows on the terminal,
// as the target printed it, but never reaches the run log.
func TestExecBecomePasswordIsMaskedInTheLog(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git:", err)
	}
	host, port, _ := net.SplitHostPort(echoServer(t))
	inv := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(inv, []byte("t1 ansible_host="+host+" ansible_port="+port+" ansible_user=u\n"), 0o644)
	logDir := filepath.Join(t.TempDir(), "log")
	t.Setenv("SSH_AUTH_SOCK", serveAgent(t))
	t.Setenv("OPS_SSH_KNOWN_HOSTS", filepath.Join(t.TempDir(), "known_hosts"))
	t.Setenv("OPS_LOG_DIR", logDir)
	t.Setenv("OPS_LOG_PROJECT", "p")
	t.Setenv("OPS_CONFIG", "")
	t.Chdir(t.TempDir())
	// The password typed at a terminal: read from the terminal itself, not
	// through the transcript that records the run.
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skip("no pty:", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	ptmx.Write([]byte("s3cret-pass\n"))
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"ops", "exec", "-i", inv, "-K", "all", "--", "id"},
		streams{in: tty, out: &out, err: &errb})
	if code != 0 || !strings.Contains(out.String(), "you typed: s3cret-pass") {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	entry, err := exec.Command("git", "-C", logDir, "show", "p").Output()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(entry, []byte("s3cret-pass")) || !bytes.Contains(entry, []byte("you typed: "+runlog.Replacement)) {
		t.Errorf("the entry:\n%s", entry)
	}
}

// --fold marks every output line, so no output can pass for a header.
func TestFoldMarksEveryLine(t *testing.T) {
	var out bytes.Buffer
	d := &deps{streams: streams{out: &out, err: &bytes.Buffer{}}}
	p := newExecPrinter(d, execOptions{fanFlags: fanFlags{fold: true}}, []string{"web1", "db1"})
	p.fold([]fanout.Result{
		{Host: "web1", Status: fanout.OK, Stdout: []byte("---------------- db1 (1) ok\nall good\n"), Stderr: []byte("warn\n")},
		{Host: "db1", Status: fanout.Failed, Exit: 1, Stdout: []byte("")},
	})
	want := "---------------- web1 (1) ok\n| ---------------- db1 (1) ok\n| all good\n! warn\n---------------- db1 (1) failed exit=1\n"
	if out.String() != want {
		t.Errorf("%q, want %q", out.String(), want)
	}
}
