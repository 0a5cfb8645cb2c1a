//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/ops-team/ops/internal/lab"
)

// serverEngine is the operation server's engine, as root on this machine.
func serverEngine(t *testing.T) *client.Client {
	st := labState(t)
	c, err := client.NewClientWithOpts(client.WithHost("unix://"+st.OpServerSocket), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// opsContainers lists the containers ops started on the operation server.
func opsContainers(t *testing.T) []container.Summary {
	cs, err := serverEngine(t).ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "io.ops.operator"))})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func waitContainers(t *testing.T, want int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if len(opsContainers(t)) == want {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// ensureDeployed deploys the current source once for the container tests.
var deployOnce sync.Once

func ensureDeployed(t *testing.T) {
	deployOnce.Do(func() {
		cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), "deploy")
		cmd.Dir = projectDir(t)
		cmd.Env = labEnv(t, "HOME="+t.TempDir(), "PATH="+toolsOnly(t, "go", "git"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("deploy: %v\n%s", err, out)
		}
	})
}

func TestRemoteContainerBecomePasswordAtThePrompt(t *testing.T) {
	st := labState(t)
	ensureDeployed(t)
	marks := "/var/tmp/ops-marks"
	os.RemoveAll(marks)
	work := t.TempDir()
	playbook := filepath.Join(work, "slow.yml")
	os.WriteFile(playbook, []byte(`- hosts: all
  become: yes
  gather_facts: no
  tasks:
    - script: script/mark.sh {{ inventory_hostname }}
    - raw: sleep 4
`), 0o644)
	os.MkdirAll(filepath.Join(work, "script"), 0o755)
	b, _ := os.ReadFile(filepath.Join(projectDir(t), "playbooks", "script", "mark.sh"))
	os.WriteFile(filepath.Join(work, "script", "mark.sh"), b, 0o755)

	cmd, ptmx, _ := startInPTY(t, labEnv(t), 40, 120, "remote-container",
		"--copy", st.InventoryPath(), "--copy", playbook, "--copy", filepath.Join(work, "script"), "--",
		"ansible-playbook", "--ask-become-pass", "-i", "inventory.ini", "slow.yml")
	var screen bytes.Buffer
	expect(t, ptmx, &screen, "BECOME password:", 60*time.Second)
	ptmx.Write([]byte(st.BecomePassword + "\r"))
	expect(t, ptmx, &screen, "TASK [raw]", 60*time.Second)

	// While it runs: the password is in no process's argv or environment
	// on this machine (laptop and server share it), nor in the container's config.
	secret := []byte(st.BecomePassword)
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if env, _ := os.ReadFile(filepath.Join(p, "environ")); bytes.Contains(env, []byte("OPS_LAB_BECOME_PASSWORD="+st.BecomePassword)) {
			continue // the test harness itself, given the password by lab-env
		}
		for _, f := range []string{"cmdline", "environ"} {
			if b, err := os.ReadFile(filepath.Join(p, f)); err == nil && bytes.Contains(b, secret) {
				t.Errorf("the become password is in %s/%s", p, f)
			}
		}
	}
	running := opsContainers(t)
	if len(running) != 1 {
		t.Fatalf("%d ops containers running", len(running))
	}
	if !strings.HasPrefix(strings.TrimPrefix(running[0].Names[0], "/"), "ops-") {
		t.Errorf("container name %v", running[0].Names)
	}
	_, raw, err := serverEngine(t).ContainerInspectWithRaw(context.Background(), running[0].ID, false)
	if err != nil || bytes.Contains(raw, secret) {
		t.Errorf("docker inspect holds the become password (or failed: %v)", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ansible-playbook: %v\n%s", err, screen.String())
	}
	expect(t, ptmx, &screen, "", time.Second)
	if bytes.Contains(screen.Bytes(), secret) {
		t.Error("the become password appeared on the terminal")
	}
	for _, tg := range st.Targets {
		fi, err := os.Stat(filepath.Join(marks, tg.Name))
		if err != nil {
			t.Errorf("no mark for %s: %v", tg.Name, err)
			continue
		}
		if fi.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("the mark of %s is not root's", tg.Name)
		}
		if b, _ := os.ReadFile(filepath.Join(marks, tg.Name)); !strings.Contains(string(b), tg.Name+" ran as root") {
			t.Errorf("mark of %s: %q", tg.Name, b)
		}
	}
	if ents, _ := os.ReadDir(marks); len(ents) != len(st.Targets) {
		t.Errorf("%d marks for %d hosts", len(ents), len(st.Targets))
	}
	if !waitContainers(t, 0, 5*time.Second) {
		t.Error("the container was not removed")
	}
}

// The original helper's typical call, exactly as an operator types it: the
// Mackerel inventory baked into the image, the example playbook, the
// password typed at the BECOME prompt of a real terminal.
func TestRemoteContainerExamplePlaybookAsTyped(t *testing.T) {
	st := labState(t)
	ensureDeployed(t)
	marks := "/var/tmp/ops-marks"
	os.RemoveAll(marks)
	cmd, ptmx, _ := startInPTY(t, labEnv(t), 40, 120, "remote-container",
		"ansible-playbook", "--ask-become-pass", "-i", "/usr/local/bin/mackerel-inventory", "playbooks/example.yml")
	var screen bytes.Buffer
	expect(t, ptmx, &screen, "BECOME password:", 60*time.Second)
	ptmx.Write([]byte(st.BecomePassword + "\r"))
	if err := cmd.Wait(); err != nil {
		expect(t, ptmx, &screen, "\n", time.Second)
		t.Fatalf("exit %v\n%s", err, screen.String())
	}
	// The inventory lists the working and standby hosts; each got its root-owned mark.
	if got, want := rootMarks(marks), inventoryHosts(st); got != want {
		t.Errorf("root-owned marks %v, want %v", got, want)
	}
	if bytes.Contains(screen.Bytes(), []byte(st.BecomePassword)) {
		t.Error("the password was echoed")
	}
}

// The same example, run natively by ops play in the image on the
// operation server: the password typed at ops play's prompt, the marks as
// ansible-playbook leaves them.
func TestRemoteContainerOpsPlayExample(t *testing.T) {
	st := labState(t)
	ensureDeployed(t)
	marks := "/var/tmp/ops-marks"
	os.RemoveAll(marks)
	cmd, ptmx, _ := startInPTY(t, labEnv(t), 40, 120, "remote-container", "--",
		"ops", "play", "-K", "-i", "/usr/local/bin/mackerel-inventory", "playbooks/example.yml")
	var screen bytes.Buffer
	expect(t, ptmx, &screen, "BECOME password:", 60*time.Second)
	ptmx.Write([]byte(st.BecomePassword + "\r"))
	err := cmd.Wait()
	expect(t, ptmx, &screen, "PLAY RECAP", 5*time.Second)
	if err != nil {
		t.Fatalf("exit %v\n%s", err, screen.String())
	}
	if got, want := rootMarks(marks), inventoryHosts(st); got != want {
		t.Errorf("root-owned marks %v, want %v\n%s", got, want, screen.String())
	}
	if bytes.Contains(screen.Bytes(), []byte(st.BecomePassword)) {
		t.Error("the password was echoed")
	}
}

func TestRemoteContainerExitCodes(t *testing.T) {
	ensureDeployed(t)
	st := labState(t)
	failing := filepath.Join(t.TempDir(), "fail.yml")
	os.WriteFile(failing, []byte("- hosts: all\n  gather_facts: no\n  tasks:\n    - raw: exit 1\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"success", []string{"true"}, 0, ""},
		{"own code", []string{"sh", "-c", "exit 42"}, 42, ""},
		{"playbook failure", []string{"--copy", failing, "--copy", st.InventoryPath(), "--", "ansible-playbook", "-i", "inventory.ini", "fail.yml"}, 2, "failed=1"},
		{"missing command", []string{"no-such-command"}, 127, "no-such-command: command not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := opsCmd(t, labEnv(t), append([]string{"remote-container"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+stderr, tc.want) {
				t.Errorf("exit %d, want %d; output %q %q", code, tc.code, out, stderr)
			}
		})
	}
	if _, stderr, code := opsCmd(t, labEnv(t, "OPS_IMAGE_TAG=never-deployed"), "remote-container", "true"); code != 1 || !strings.Contains(stderr, "is not on the operation server: run ops deploy") {
		t.Errorf("image not deployed: exit %d %q", code, stderr)
	}
	if !waitContainers(t, 0, 5*time.Second) {
		t.Error("containers left behind")
	}
}

func TestRemoteContainerPassesEnvironmentMountsAndUser(t *testing.T) {
	ensureDeployed(t)
	out, stderr, code := opsCmd(t, labEnv(t, "MACKEREL_APIBASE=http://example.invalid", "NOT_PASSED=x"), "remote-container", "--remote-user", "someone", "--",
		"sh", "-c", `echo "user=$ANSIBLE_REMOTE_USER api=$MACKEREL_APIBASE other=${NOT_PASSED:-unset}"; grep -c apikey /etc/mackerel-agent/mackerel-agent.conf; touch /etc/mackerel-agent/mackerel-agent.conf 2>/dev/null && echo writable || echo read-only; pwd`)
	if code != 0 || out != "user=someone api=http://example.invalid other=unset\n1\nread-only\n/work\n" {
		t.Errorf("exit %d %q %q", code, out, stderr)
	}
	out, _, _ = opsCmd(t, labEnv(t), "remote-container", "sh", "-c", `echo $ANSIBLE_REMOTE_USER`)
	if strings.TrimSpace(out) != lab.TargetUser {
		t.Errorf("ANSIBLE_REMOTE_USER from target.user: %q", out)
	}
	// The per-user volume outlives the container.
	opsCmd(t, labEnv(t), "remote-container", "sh", "-c", "echo kept > /var/lib/ops/probe")
	out, _, _ = opsCmd(t, labEnv(t), "remote-container", "cat", "/var/lib/ops/probe")
	if out != "kept\n" {
		t.Errorf("state volume: %q", out)
	}
}

// The operator's keys stay on the laptop: a forwarded key's private half is
// on none of the operation server's disks, and a key left out by the
// restriction cannot be used from the container.
func TestForwardedKeysNeverReachTheServersDisks(t *testing.T) {
	st := labState(t)
	ensureDeployed(t)
	conn, err := net.Dial("unix", st.AgentSock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ag := agent.NewClient(conn)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	if err := ag.Add(agent.AddedKey{PrivateKey: priv, Comment: "disk-probe"}); err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	defer ag.Remove(sshPub)
	// The private part in every form it could be written in: raw, hex, base64.
	needles := [][]byte{priv.Seed(), []byte(priv), []byte(hex.EncodeToString(priv.Seed())), []byte(base64.StdEncoding.EncodeToString(priv.Seed())), []byte(base64.StdEncoding.EncodeToString(priv))[:40]}

	pubFile := filepath.Join(t.TempDir(), "probe.pub")
	os.WriteFile(pubFile, ssh.MarshalAuthorizedKey(sshPub), 0o644)
	var opFP string
	keys, _ := ag.List()
	for _, k := range keys {
		if k.Comment != "disk-probe" {
			pk, _ := ssh.ParsePublicKey(k.Blob)
			opFP = ssh.FingerprintSHA256(pk)
		}
	}
	// Unrestricted: the probe key signs inside the container (so it was used
	// there), then the disks are searched while the container still runs.
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), "remote-container", "--copy", pubFile, "--", "sh", "-c",
		"echo data > f && ssh-keygen -Y sign -n test -f probe.pub f >/dev/null 2>&1 && echo signed; sleep 8")
	cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()}, labEnv(t)...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Start()
	var buf bytes.Buffer
	expect(t, stdout, &buf, "signed", 60*time.Second)
	running := opsContainers(t)
	if len(running) != 1 {
		t.Fatalf("%d containers", len(running))
	}
	export, err := serverEngine(t).ContainerExport(context.Background(), running[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(export)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("the private key is in the container's file %s", h.Name)
			}
		}
	}
	export.Close()
	for _, dir := range []string{"/home/" + lab.OpUser, filepath.Join(st.Dir, "opserver", "docker"), "/tmp"} {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || !fi.Mode().IsRegular() || fi.Size() > 64<<20 {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("the private key is on the server's disk: %s", p)
				}
			}
			return nil
		})
	}
	cmd.Wait()

	// Restricted to the operator's key: the probe key is neither listed nor usable.
	out, stderr, code := opsCmd(t, labEnv(t), "remote-container", "--agent-key", opFP, "--copy", pubFile, "--", "sh", "-c",
		"ssh-add -L | grep -c disk-probe; echo data > f; ssh-keygen -Y sign -n test -f probe.pub f; echo sign=$?")
	if code != 0 || !strings.HasPrefix(out, "0\n") || !strings.Contains(out, "sign=255") {
		t.Errorf("restricted agent: exit %d %q %q", code, out, stderr)
	}
}

func TestRemoteContainerEndsWhenTheOperatorGoes(t *testing.T) {
	ensureDeployed(t)
	st := labState(t)
	start := func(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), append([]string{"remote-container"}, args...)...)
		cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()}, env...)
		stdout, _ := cmd.StdoutPipe()
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		expect(t, stdout, &buf, "running", 60*time.Second)
		go io.Copy(io.Discard, stdout)
		if n := len(opsContainers(t)); n != 1 {
			t.Fatalf("%d containers running", n)
		}
		return cmd, &errb
	}
	t.Run("kill -9", func(t *testing.T) {
		cmd, _ := start(t, labEnv(t), "sh", "-c", "echo running; sleep 120")
		cmd.Process.Kill()
		cmd.Wait()
		if !waitContainers(t, 0, 5*time.Second) {
			t.Error("the container outlived a killed ops by more than 5 s")
		}
	})
	t.Run("Ctrl-C", func(t *testing.T) {
		cmd, _ := start(t, labEnv(t), "sh", "-c", "echo running; sleep 120")
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Errorf("exit %d after Ctrl-C, want 130", code)
		}
		if !waitContainers(t, 0, 5*time.Second) {
			t.Error("the container outlived Ctrl-C by more than 5 s")
		}
	})
	t.Run("frozen link", func(t *testing.T) {
		proxy := newFreezableProxy(t, st.OpServerAddr)
		kh := filepath.Join(t.TempDir(), "known_hosts")
		cmd, stderr := start(t, labEnv(t, "OPS_SERVER_HOST="+lab.OpUser+"@"+proxy.addr, "OPS_SSH_KNOWN_HOSTS="+kh), "--accept-new", "--", "sh", "-c", "echo running; sleep 120")
		proxy.freeze()
		if !waitContainers(t, 0, 10*time.Second) {
			t.Error("the container outlived a frozen link by more than 10 s")
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
			if code := cmd.ProcessState.ExitCode(); code != 255 {
				t.Errorf("ops exit %d on a frozen link, want 255: %s", code, stderr)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Error("ops did not give up on a frozen link")
		}
	})
}

// freezableProxy forwards TCP until frozen; then it neither forwards nor closes.
type freezableProxy struct {
	addr   string
	mu     sync.Mutex
	frozen bool
}

func newFreezableProxy(t *testing.T, target string) *freezableProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &freezableProxy{addr: l.Addr().String()}
	pipe := func(dst, src net.Conn) {
		b := make([]byte, 32<<10)
		for {
			n, err := src.Read(b)
			if err != nil {
				return
			}
			for p.isFrozen() {
				time.Sleep(50 * time.Millisecond) // hold the bytes: packets stop, nothing closes
			}
			if _, err := dst.Write(b[:n]); err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); s.Close() })
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return p
}

func (p *freezableProxy) freeze() { p.mu.Lock(); p.frozen = true; p.mu.Unlock() }
func (p *freezableProxy) isFrozen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frozen
}

func TestLocalContainerRunsAsTheCaller(t *testing.T) {
	st := labState(t)
	ensureDeployed(t) // builds the image in the local engine too
	u, err := user.Lookup(lab.OpUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dg, err := user.LookupGroup("docker")
	if err != nil {
		t.Fatal(err)
	}
	dgid, _ := strconv.Atoi(dg.Gid)
	work, home := t.TempDir(), t.TempDir()
	os.Chown(work, uid, gid)
	os.Chown(home, uid, gid)
	os.Chmod(filepath.Dir(work), 0o755)
	os.Chmod(filepath.Dir(home), 0o755)
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), "local-container", "--no-agent", "--", "sh", "-c", "id -u; pwd; touch made-here; ls /work/playbooks 2>/dev/null | head -1")
	cmd.Dir = work
	cmd.Env = []string{"PATH=/nonexistent", "HOME=" + home, "OPS_CONFIG=" + st.ConfigPath(), "USER=" + lab.OpUser, "OPS_LOG_ENABLED=false"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(dgid)}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("local-container as %s: %v\n%s", lab.OpUser, err, out)
	}
	if !strings.HasPrefix(string(out), fmt.Sprintf("%d\n/work\n", uid)) {
		t.Errorf("output %q", out)
	}
	fi, err := os.Stat(filepath.Join(work, "made-here"))
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Errorf("the file the container wrote is not the caller's: %v", err)
	}
	// With the operator's agent, as root: the agent is there, and exit codes pass.
	out2, stderr, code := opsCmd(t, labEnv(t), "local-container", "sh", "-c", "ssh-add -l >/dev/null && exit 9")
	if code != 9 {
		t.Errorf("local-container with agent: exit %d %q %q", code, out2, stderr)
	}
}

// inventoryHosts are the hosts the Mackerel inventory lists (working and
// standby), comma-separated.
func inventoryHosts(st *lab.State) string {
	var want []string
	for _, h := range lab.MackerelHosts(st) {
		if !h.IsRetired && (h.Status == "working" || h.Status == "standby") {
			want = append(want, h.Name)
		}
	}
	return strings.Join(want, ",")
}

// rootMarks are the marks in dir that mark.sh left as root, named after
// their host and saying so, comma-separated.
func rootMarks(dir string) string {
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		fi, _ := e.Info()
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if fi.Sys().(*syscall.Stat_t).Uid == 0 && strings.Contains(string(b), e.Name()+" ran as root") {
			got = append(got, e.Name())
		}
	}
	return strings.Join(got, ",")
}
