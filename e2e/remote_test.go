//go:build e2e

package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/sys/unix"

	"github.com/ops-team/ops/internal/lab"
)

// labEnv is the environment ops needs to reach the lab.
func labEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	st := labState(t)
	env := []string{"OPS_CONFIG=" + st.ConfigPath(), "SSH_AUTH_SOCK=" + st.AgentSock}
	for _, kv := range st.Env() {
		if strings.HasPrefix(kv[0], "AWS_") {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	return append(env, extra...)
}

func TestRemoteRunsCommandsAndPassesExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name           string
		args           []string
		stdout, stderr string
		code           int
	}{
		{"login user", []string{"id", "-un"}, lab.OpUser + "\n", "", 0},
		{"streams kept apart", []string{"--", "sh", "-c", "echo out; echo err >&2; exit 7"}, "out\n", "err\n", 7},
		{"one argument is a command line", []string{"echo a  b | tr a x"}, "x b\n", "", 0},
		{"words are quoted", []string{"echo", "a  b", "$HOME"}, "a  b $HOME\n", "", 0},
		{"missing command", []string{"no-such-command-here"}, "", "not found", 127},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := opsCmd(t, labEnv(t), append([]string{"remote"}, tc.args...)...)
			if code != tc.code || out != tc.stdout || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d stdout %q stderr %q; want %d %q %q", code, out, stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
	if _, stderr, code := opsCmd(t, []string{"OPS_CONFIG=/dev/null"}, "remote", "true"); code != 2 || !strings.Contains(stderr, "no operation server") {
		t.Errorf("no server: exit %d %q", code, stderr)
	}
	if _, stderr, code := opsCmd(t, labEnv(t), "remote"); code != 2 || !strings.Contains(stderr, "remote needs a command") {
		t.Errorf("no command: exit %d %q", code, stderr)
	}
}

func termios(t *testing.T, f *os.File) *unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio
}

// startInPTY runs ops with a pseudo-terminal as its controlling terminal.
func startInPTY(t *testing.T, env []string, rows, cols uint16, args ...string) (*exec.Cmd, *os.File, *os.File) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	pty.Setsize(ptmx, &pty.Winsize{Rows: rows, Cols: cols})
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), args...)
	cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir(), "TERM=xterm"}, env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, ptmx, tty
}

// expect reads the terminal until want appears.
func expect(t *testing.T, r io.Reader, buf *bytes.Buffer, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	b := make([]byte, 4096)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("did not see %q in:\n%s", want, buf.String())
		}
		if f, ok := r.(*os.File); ok {
			f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		}
		n, _ := r.Read(b)
		buf.Write(b[:n])
	}
}

func TestRemoteTerminal(t *testing.T) {
	before := termios(t, mustOpenTTY(t))
	cmd, ptmx, tty := startInPTY(t, labEnv(t), 30, 100, "remote", "--", "sh", "-c", "tty; stty size; read x; stty size; exit 3")
	var buf bytes.Buffer
	expect(t, ptmx, &buf, "30 100", 20*time.Second)
	if !strings.Contains(buf.String(), "/dev/pts/") {
		t.Errorf("no remote terminal: %q", buf.String())
	}
	// Raw mode locally while it runs.
	if termios(t, tty).Lflag&unix.ECHO != 0 {
		t.Error("local terminal still echoes while the remote PTY runs")
	}
	pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 132})
	time.Sleep(300 * time.Millisecond)
	ptmx.Write([]byte("go\r"))
	expect(t, ptmx, &buf, "50 132", 10*time.Second)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit %d (%v), want 3", code, err)
	}
	after := termios(t, tty)
	if after.Lflag&(unix.ECHO|unix.ICANON) != before.Lflag&(unix.ECHO|unix.ICANON) {
		t.Errorf("terminal mode not restored: lflag %#x, was %#x", after.Lflag, before.Lflag)
	}
}

// mustOpenTTY gives a fresh pty's default termios to compare with.
func mustOpenTTY(t *testing.T) *os.File {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	return tty
}

func TestRemoteHostKeys(t *testing.T) {
	st := labState(t)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	env := labEnv(t, "OPS_SSH_KNOWN_HOSTS="+kh)
	_, stderr, code := opsCmd(t, env, "remote", "true")
	if code != 255 || !strings.Contains(stderr, "is not in known_hosts") || !strings.Contains(stderr, "SHA256:") {
		t.Fatalf("unknown key without a terminal: exit %d %q", code, stderr)
	}
	if _, err := os.Stat(kh); err == nil {
		t.Fatal("known_hosts written although the key was not accepted")
	}
	// At a terminal: "no" refuses, "yes" accepts and records.
	for _, answer := range []string{"no", "yes"} {
		cmd, ptmx, _ := startInPTY(t, env, 24, 80, "remote", "true")
		var buf bytes.Buffer
		expect(t, ptmx, &buf, "(yes/no)?", 20*time.Second)
		if !strings.Contains(buf.String(), "ED25519 key fingerprint is SHA256:") {
			t.Errorf("prompt lacks the fingerprint: %q", buf.String())
		}
		ptmx.Write([]byte(answer + "\r"))
		cmd.Wait()
		want := map[string]int{"no": 255, "yes": 0}[answer]
		if code := cmd.ProcessState.ExitCode(); code != want {
			t.Errorf("answer %s: exit %d, want %d", answer, code, want)
		}
	}
	b, _ := os.ReadFile(kh)
	if !strings.Contains(string(b), "[127.0.0.1]:") {
		t.Fatalf("known_hosts after yes: %q", b)
	}
	// A changed key is refused, even with --accept-new, and the file is left alone.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _ := ssh.NewPublicKey(other.Public())
	host, port, _ := net.SplitHostPort(st.OpServerAddr)
	forged := "[" + host + "]:" + port + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(otherPub))) + "\n"
	os.WriteFile(kh, []byte(forged), 0o600)
	_, stderr, code = opsCmd(t, env, "remote", "--accept-new", "true")
	if code != 255 || !strings.Contains(stderr, "HOST KEY CHANGED") || !strings.Contains(stderr, kh+":1") {
		t.Errorf("changed key: exit %d %q", code, stderr)
	}
	if b, _ := os.ReadFile(kh); string(b) != forged {
		t.Errorf("known_hosts changed: %q", b)
	}
	// --accept-new on an unknown host records it.
	os.Remove(kh)
	if _, stderr, code := opsCmd(t, env, "remote", "--accept-new", "true"); code != 0 || !strings.Contains(stderr, "added") {
		t.Errorf("accept-new: exit %d %q", code, stderr)
	}
}

func TestRemoteThroughSSHConfigAndProxyJump(t *testing.T) {
	st := labState(t)
	host, port, _ := net.SplitHostPort(st.OpServerAddr)
	conf := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(conf, []byte(`Host opserver
  HostName `+host+`
  Port `+port+`
  User `+lab.OpUser+`

Host via-target
  HostName `+host+`
  Port `+port+`
  User `+lab.OpUser+`
  ProxyJump `+lab.TargetUser+`@`+st.Targets[0].Addr+`
`), 0o644)
	for _, alias := range []string{"opserver", "via-target"} {
		out, stderr, code := opsCmd(t, labEnv(t, "OPS_SSH_CONFIG="+conf), "--server", alias, "remote", "id", "-un")
		if code != 0 || out != lab.OpUser+"\n" {
			t.Errorf("%s: exit %d %q %q", alias, code, out, stderr)
		}
	}
}

func TestRemoteForwardsARestrictedReadOnlyAgent(t *testing.T) {
	st := labState(t)
	// A second key in the operator's agent, removed afterwards.
	conn, err := net.Dial("unix", st.AgentSock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ag := agent.NewClient(conn)
	_, second, _ := ed25519.GenerateKey(rand.Reader)
	if err := ag.Add(agent.AddedKey{PrivateKey: second, Comment: "second-key"}); err != nil {
		t.Fatal(err)
	}
	secondPub, _ := ssh.NewPublicKey(second.Public())
	defer ag.Remove(secondPub)
	opFP := func() string {
		keys, _ := ag.List()
		for _, k := range keys {
			if k.Comment != "second-key" {
				pk, _ := ssh.ParsePublicKey(k.Blob)
				return ssh.FingerprintSHA256(pk)
			}
		}
		t.Fatal("no operator key")
		return ""
	}()

	out, _, code := opsCmd(t, labEnv(t), "remote", "ssh-add", "-l")
	if code != 0 || !strings.Contains(out, "second-key") || !strings.Contains(out, opFP) {
		t.Errorf("unrestricted agent: %q", out)
	}
	out, _, code = opsCmd(t, labEnv(t), "remote", "--agent-key", opFP, "ssh-add", "-l")
	if code != 0 || strings.Contains(out, "second-key") || !strings.Contains(out, opFP) {
		t.Errorf("restricted agent: exit %d %q", code, out)
	}
	if _, stderr, code := opsCmd(t, labEnv(t), "remote", "--agent-key", "SHA256:none", "true"); code != 1 || !strings.Contains(stderr, "no key in the agent matches") {
		t.Errorf("restriction to no key: exit %d %q", code, stderr)
	}
	// The remote side cannot change the agent.
	if _, _, code := opsCmd(t, labEnv(t), "remote", "ssh-add", "-D"); code == 0 {
		t.Error("the remote side removed keys from the forwarded agent")
	}
	if keys, _ := ag.List(); len(keys) != 2 {
		t.Errorf("agent holds %d keys after the remote ssh-add -D", len(keys))
	}
	// A hop from the server to a target signs once through the forwarded agent.
	_, stderr, code := opsCmd(t, labEnv(t), "remote", "--agent-key", opFP, "--",
		"ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		lab.TargetUser+"@"+st.Targets[0].Addr, "true")
	if code != 0 || !strings.Contains(stderr, "forwarded agent for 1 signature(s)") {
		t.Errorf("hop to a target: exit %d %q", code, stderr)
	}
	if _, _, code := opsCmd(t, labEnv(t), "remote", "--no-agent", "--", "sh", "-c", `test -z "$SSH_AUTH_SOCK"`); code != 0 {
		t.Error("--no-agent still forwarded an agent")
	}
}

func TestRemoteFaults(t *testing.T) {
	st := labState(t)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := closed.Addr().String()
	closed.Close()
	empty := filepath.Join(t.TempDir(), "agent.sock")
	ea := exec.Command("/usr/bin/ssh-agent", "-D", "-a", empty)
	if err := ea.Start(); err != nil {
		t.Fatal(err)
	}
	defer ea.Process.Kill()
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(empty); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"no agent", []string{"OPS_CONFIG=" + st.ConfigPath()}, []string{"remote", "true"}, 1, "no SSH key: SSH_AUTH_SOCK is unset"},
		{"empty agent", []string{"OPS_CONFIG=" + st.ConfigPath(), "SSH_AUTH_SOCK=" + empty}, []string{"remote", "true"}, 1, "holds none"},
		{"unreachable", labEnv(t, "OPS_SERVER_HOST="+lab.OpUser+"@"+deadAddr), []string{"remote", "true"}, 255, "cannot reach " + lab.OpUser + "@" + deadAddr + ": connection refused"},
		{"key refused", labEnv(t, "OPS_SERVER_HOST=nobody@"+st.OpServerAddr), []string{"remote", "true"}, 255, "refused our keys"},
		{"connection dropped", labEnv(t), []string{"remote", "--", "sh", "-c", "echo started; kill -9 $PPID; sleep 5"}, 255, "connection lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := opsCmd(t, tc.env, tc.args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != tc.code || !strings.Contains(lines[len(lines)-1], tc.want) {
				t.Errorf("exit %d stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}

func TestRemoteInterrupt(t *testing.T) {
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), "remote", "--", "sh", "-c", "echo ready; sleep 60")
	cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()}, labEnv(t)...)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	expect(t, stdout, &buf, "ready", 20*time.Second)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("ops did not stop after Ctrl-C")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d after Ctrl-C, want 130", code)
	}
}
