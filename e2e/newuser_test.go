//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ops-team/ops/internal/lab"
)

// newUser is a fresh non-root account: an empty HOME, no Go on PATH, in
// the docker group as a laptop's user is; it runs commands as itself.
type newUser struct {
	name     string
	home     string
	uid, gid uint32
	groups   []uint32
	path     string
	env      []string
}

const newUserName = "opslab-newuser"

func makeNewUser(t *testing.T, root string) *newUser {
	t.Helper()
	exec.Command("userdel", newUserName).Run() // a crashed run's
	home := filepath.Join(root, "home")
	if out, err := exec.Command("useradd", "-M", "-d", home, "-s", "/bin/sh", "-U", newUserName).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", newUserName).Run() })
	u, err := user.Lookup(newUserName)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	nu := &newUser{name: newUserName, home: home, uid: uint32(uid), gid: uint32(gid)}
	if g, err := user.LookupGroup("docker"); err == nil {
		id, _ := strconv.Atoi(g.Gid)
		nu.groups = append(nu.groups, uint32(id))
	}
	os.MkdirAll(home, 0o700)
	os.Chown(home, uid, gid)
	return nu
}

// run runs argv as the user in dir, stdin closed.
func (u *newUser) run(t *testing.T, dir string, argv ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = u.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v: still running after 5 minutes\n%s%s", argv, out.String(), errb.String())
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// agentProxy serves the lab's agent on a socket only the user may use,
// as the user's own ssh-agent would be.
func agentProxy(t *testing.T, u *newUser, target string) string {
	t.Helper()
	sock := filepath.Join(u.home, ".ssh", "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	os.Chown(sock, int(u.uid), int(u.gid))
	os.Chmod(sock, 0o600)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				a, err := net.Dial("unix", target)
				if err != nil {
					return
				}
				defer a.Close()
				go io.Copy(a, c)
				io.Copy(c, a)
			}()
		}
	}()
	return sock
}

// From a host-platform release archive (built here, --snapshot), as a
// new non-root user with an empty HOME, no Go on PATH and no checkout:
// ops init with flags against the lab, ops doctor, ops check and the
// seed's typical run, remote-container ansible-playbook over the
// Mackerel inventory, all without container.mounts (the server's
// mackerel-agent.conf is mounted by default).
func TestNewUserFromAReleaseArchive(t *testing.T) {
	st := labState(t)
	ensureDeployed(t)
	root := "/var/tmp/ops-newuser"
	os.RemoveAll(root)
	os.MkdirAll(root, 0o755)
	t.Cleanup(func() { os.RemoveAll(root) })

	// The archive, as make release SNAPSHOT=1 builds it.
	dist := filepath.Join(root, "dist")
	rel := exec.Command("scripts/release.sh", "--snapshot")
	rel.Dir = projectDir(t)
	rel.Env = append(os.Environ(), "PLATFORMS=linux/"+runtime.GOARCH, "OUT="+dist)
	if out, err := rel.CombinedOutput(); err != nil {
		t.Fatalf("release: %v\n%s", err, out)
	}
	archives, _ := filepath.Glob(filepath.Join(dist, "ops_*_linux_"+runtime.GOARCH+".tar.gz"))
	if len(archives) != 1 {
		t.Fatalf("archives %v", archives)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil || !strings.Contains(string(sums), filepath.Base(archives[0])) {
		t.Fatalf("SHA256SUMS does not list %s: %v %s", filepath.Base(archives[0]), err, sums)
	}

	u := makeNewUser(t, root)
	bin := filepath.Join(root, "opt")
	os.MkdirAll(bin, 0o755)
	if out, err := exec.Command("tar", "-xzf", archives[0], "-C", bin, "--strip-components=1").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	// The user accepted the server's host key once, as ssh would have it.
	os.MkdirAll(filepath.Join(u.home, ".ssh"), 0o700)
	kh, _ := os.ReadFile(st.KnownHosts())
	os.WriteFile(filepath.Join(u.home, ".ssh", "known_hosts"), kh, 0o600)
	agent := agentProxy(t, u, st.AgentSock)
	work := filepath.Join(u.home, "work")
	os.MkdirAll(work, 0o755)
	exec.Command("chown", "-R", fmt.Sprintf("%d:%d", u.uid, u.gid), u.home).Run()

	u.env = []string{"HOME=" + u.home, "USER=" + u.name, "PATH=" + bin + ":/usr/bin:/bin", "SSH_AUTH_SOCK=" + agent,
		"LANG=C.UTF-8",
		// What differs in the lab from a real fleet's defaults: the
		// server's engine socket, the fake ECR's endpoint, the targets' login.
		"OPS_SERVER_DOCKER_SOCKET=" + st.OpServerSocket, "OPS_REGISTRY_ECR_ENDPOINT=http://" + st.ECRAddr,
		"OPS_TARGET_USER=" + lab.TargetUser,
		// The operator's own credentials, as they export them.
		"MACKEREL_APIKEY=" + st.MackerelAPIKey}
	for _, kv := range st.Env() {
		if strings.HasPrefix(kv[0], "AWS_") {
			u.env = append(u.env, kv[0]+"="+kv[1])
		}
	}
	if out, _, code := u.run(t, work, "sh", "-c", "command -v go; id -u"); code != 0 || strings.Contains(out, "/go") || strings.TrimSpace(out) == "0" {
		t.Fatalf("the user must be non-root without Go: %q (exit %d)", out, code)
	}
	ops := filepath.Join(bin, "ops")
	// A snapshot has no tag: its version names the commit.
	head, _ := exec.Command("git", "-C", projectDir(t), "rev-parse", "--short=12", "HEAD").Output()
	if out, _, code := u.run(t, work, ops, "--version"); code != 0 || !strings.Contains(out, strings.TrimSpace(string(head))) {
		t.Errorf("ops --version from the archive: %q (exit %d), want commit %s", out, code, head)
	}

	logRemote := fmt.Sprintf("ssh://%s/home/%s/runlog.git", st.OpServerDest(), lab.OpUser)
	out, errs, code := u.run(t, work, ops, "init", "--server", st.OpServerDest(), "--registry", st.RegistryAddr+"/ops-ansible",
		"--ecr", "--log-remote", logRemote)
	if code != 0 || strings.TrimSpace(out) != filepath.Join(work, "ops.yaml") {
		t.Fatalf("ops init: exit %d\n%s%s", code, out, errs)
	}
	conf, _ := os.ReadFile(filepath.Join(work, "ops.yaml"))
	for _, l := range strings.Split(string(conf), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "mounts:") {
			t.Errorf("ops init set container.mounts: %q", l)
		}
	}
	// Again: refused, the file left as it is.
	_, errs, code = u.run(t, work, ops, "init", "--server", "elsewhere", "--registry", "r.example/x", "--ecr")
	if again, _ := os.ReadFile(filepath.Join(work, "ops.yaml")); code != 1 || !bytes.Equal(again, conf) || strings.Count(errs, "\n") != 1 {
		t.Errorf("second ops init: exit %d, %q; the file changed: %v", code, errs, !bytes.Equal(again, conf))
	}

	out, errs, code = u.run(t, work, ops, "doctor")
	if code != 0 {
		t.Errorf("ops doctor: exit %d\n%s%s", code, out, errs)
	}
	// Without a terminal, what the flags did not give: exit 2 naming it, nothing written.
	other := filepath.Join(u.home, "other")
	u.run(t, u.home, "mkdir", other)
	_, errs, code = u.run(t, other, ops, "init", "--server", st.OpServerDest())
	if _, err := os.Stat(filepath.Join(other, "ops.yaml")); code != 2 || !strings.Contains(errs, "--registry") || strings.Count(errs, "\n") != 1 || err == nil {
		t.Errorf("ops init without --registry: exit %d %q (file written: %v)", code, errs, err == nil)
	}
	// What doctor finds missing: one FAILED line each, exit 1.
	base := u.env
	for _, tc := range []struct {
		name, drop, add, want string
	}{
		{"agent missing", "SSH_AUTH_SOCK=", "", "FAILED  agent     no ssh agent"},
		{"Mackerel key missing", "MACKEREL_APIKEY=", "", "FAILED  mackerel  no Mackerel API key"},
		{"log remote unreachable", "", "OPS_LOG_REMOTE=ssh://" + lab.OpUser + "@127.0.0.1:1/nowhere.git", "FAILED  log       log remote ssh://" + lab.OpUser + "@127.0.0.1:1/nowhere.git unreachable"},
	} {
		u.env = nil
		for _, kv := range base {
			if tc.drop == "" || !strings.HasPrefix(kv, tc.drop) {
				u.env = append(u.env, kv)
			}
		}
		if tc.add != "" {
			u.env = append(u.env, tc.add)
		}
		out, errs, code := u.run(t, work, ops, "doctor")
		failed := strings.Count(out, "FAILED")
		if tc.name == "agent missing" {
			failed -= strings.Count(out, "FAILED  log") // the log remote needs the agent too
		}
		if code != 1 || !strings.Contains(out, tc.want) || failed != 1 || errs != "ops: doctor: 1 check(s) failed\n" && tc.name != "agent missing" {
			t.Errorf("doctor, %s: exit %d, want 1 and one line %q\n%s%s", tc.name, code, tc.want, out, errs)
		}
	}
	u.env = base
	out, errs, code = u.run(t, work, ops, "check")
	if code != 0 || !strings.Contains(out, "mackerel-inventory in the image lists") {
		t.Errorf("ops check: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = u.run(t, work, ops, "remote-container", "ansible-playbook", "-i", "/usr/local/bin/mackerel-inventory", "playbooks/uptime.yml")
	if code != 0 {
		t.Fatalf("remote-container ansible-playbook: exit %d\n%s%s", code, out, errs)
	}
	recap := recapOf(out)
	for _, h := range strings.Split(inventoryHosts(st), ",") {
		if recap[h] == "" || !strings.HasPrefix(recap[h], "ok=1 ") || !strings.Contains(recap[h], " failed=0 ") {
			t.Errorf("%s: recap %q\n%s", h, recap[h], out)
		}
	}
	if len(recap) != len(strings.Split(inventoryHosts(st), ",")) {
		t.Errorf("recap has %d hosts, the inventory %s", len(recap), inventoryHosts(st))
	}
	// The run is in the user's run log.
	out, errs, code = u.run(t, work, ops, "log", "list")
	if code != 0 || !strings.Contains(out, "uptime.yml") {
		t.Errorf("ops log list: exit %d\n%s%s", code, out, errs)
	}
}
