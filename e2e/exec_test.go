//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ops-team/ops/internal/lab"
)

func needHosts(t *testing.T, n int) *lab.State {
	st := labState(t)
	if len(st.Targets) < n {
		t.Fatalf("this test needs %d lab hosts, the lab has %d (make e2e starts 20)", n, len(st.Targets))
	}
	return st
}

func execCmd(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), append([]string{"exec"}, args...)...)
	cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()}, append(labEnv(t, "OPS_LOG_ENABLED=false"), env...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Run()
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func TestExecRunsOnEveryHostWithoutInterleaving(t *testing.T) {
	st := needHosts(t, 20)
	out, stderr, code := execCmd(t, nil, "", "-i", st.InventoryPath(), "-f", "50", "all", "--",
		"sh", "-c", `i=0; while [ $i -lt 200 ]; do echo "long-line-$i-$(id -un)-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); done; echo to-stderr >&2`)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	line := regexp.MustCompile(`^(lab\d+) +\| long-line-(\d+)-` + lab.TargetUser + `-x{51}$`)
	counts := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			if !regexp.MustCompile(`^lab\d+ +! to-stderr$`).MatchString(l) {
				t.Fatalf("a line that is not one host's whole line: %q", l)
			}
			continue
		}
		counts[m[1]]++
	}
	for _, tg := range st.Targets {
		if counts[tg.Name] != 200 {
			t.Errorf("%s: %d lines", tg.Name, counts[tg.Name])
		}
	}
	if !strings.Contains(stderr, fmt.Sprintf("%d hosts in", len(st.Targets))) || !strings.Contains(stderr, fmt.Sprintf("%d ok, 0 failed, 0 unreachable", len(st.Targets))) {
		t.Errorf("summary: %q", stderr)
	}
}

func TestExecScriptAndBecome(t *testing.T) {
	st := needHosts(t, 20)
	script := filepath.Join(t.TempDir(), "probe.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"args: $1 $2 as $(id -un)\"\n"), 0o755)
	out, stderr, code := execCmd(t, nil, "", "-i", st.InventoryPath(), "--fold", "all", "--script", script, "one", "two words")
	want := fmt.Sprintf("(%d) ok\n| args: one two words as %s\n", len(st.Targets), lab.TargetUser)
	if code != 0 || !strings.HasSuffix(out, want) || strings.Count(out, "----------------") != 1 {
		t.Errorf("script, folded: exit %d\n%s\n%s", code, out, stderr)
	}
	// Become: the password once, through the channel; every host runs as root.
	out, stderr, code = execCmd(t, nil, st.BecomePassword+"\n", "-i", st.InventoryPath(), "--json", "-K", "all", "--script", script, "x", "y")
	if code != 0 {
		t.Fatalf("become: exit %d\n%s", code, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	n := 0
	for dec.More() {
		var r struct{ Host, Status, Stdout string }
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		n++
		if r.Status != "ok" || r.Stdout != "args: x y as root\n" {
			t.Errorf("%s: %s %q", r.Host, r.Status, r.Stdout)
		}
	}
	if n != len(st.Targets) {
		t.Errorf("%d JSON results", n)
	}
	if strings.Contains(out+stderr, st.BecomePassword) {
		t.Error("the become password appeared in the output")
	}
	// A wrong password: every host reports it at once, no hang.
	start := time.Now()
	_, stderr, code = execCmd(t, nil, "not-the-password\n", "-i", st.InventoryPath(), "-b", "-K", "all", "--", "id", "-u")
	if code != 2 || strings.Count(stderr, "the become password was rejected") != len(st.Targets) {
		t.Errorf("wrong password: exit %d\n%s", code, stderr)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("a wrong password took %s to report", took)
	}
	// -b without -K: sudo -n, so a host that wants a password fails with
	// sudo's own message and no failed attempt is made (none reads stdin).
	out, stderr, code = execCmd(t, nil, "would-be-read\n", "-i", st.InventoryPath(), "-b", "lab_web", "--", "id", "-u")
	if code != 2 || strings.Count(out, "! sudo: a password is required") != strings.Count(stderr, ": failed exit=1")/2 || strings.Contains(out, "incorrect password") {
		t.Errorf("-b without -K: exit %d\n%s\n%s", code, out, stderr)
	}
}

func TestExecClassifiesBrokenHosts(t *testing.T) {
	st := needHosts(t, 20)
	// A host that accepts TCP but never speaks SSH.
	silent := silentListener(t)
	_, silentPort, _ := net.SplitHostPort(silent.Addr().String())
	// lab05's key is forged in this known_hosts; the others are the real ones.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	b, _ := os.ReadFile(st.KnownHosts())
	forged := regexp.MustCompile(`(?m)^(`+regexp.QuoteMeta(st.Targets[4].Addr)+` ssh-ed25519 ).*$`).ReplaceAllString(string(b), "${1}AAAAC3NzaC1lZDI1NTE5AAAAIGkzRx3rNSUR7wDJDWrt9kIe8Pl7NTYKW7zBaF00t3C+")
	os.WriteFile(kh, []byte(forged), 0o600)
	inv := filepath.Join(t.TempDir(), "hosts")
	var ini strings.Builder
	ini.WriteString("[good]\n")
	for _, tg := range st.Targets {
		fmt.Fprintf(&ini, "%s ansible_host=%s\n", tg.Name, tg.Addr)
	}
	fmt.Fprintf(&ini, "[bad]\nrefused ansible_host=127.0.9.1\nsilent ansible_host=127.0.0.1 ansible_port=%s\n[all:vars]\nansible_user=%s\n", silentPort, lab.TargetUser)
	os.WriteFile(inv, []byte(ini.String()), 0o644)
	slow := st.Targets[1].Addr
	start := time.Now()
	out, stderr, code := execCmd(t, []string{"OPS_SSH_KNOWN_HOSTS=" + kh}, "", "-i", inv, "-T", "3s", "--command-timeout", "3s", "--json", "all", "--",
		"sh", "-c", `case "$(echo $SSH_CONNECTION | cut -d' ' -f3)" in `+slow+`) sleep 100;; *) echo fine;; esac`)
	took := time.Since(start)
	if code != 6 {
		t.Errorf("exit %d, want 6 (failed and unreachable)\n%s", code, stderr)
	}
	got := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r struct{ Host, Status, Error string }
		dec.Decode(&r)
		got[r.Host] = r.Status + ": " + r.Error
	}
	want := map[string]string{
		"refused":          "unreachable: connect 127.0.9.1:22: connection refused",
		"silent":           "unreachable: 127.0.0.1:" + silentPort + ": no SSH handshake within 3s",
		st.Targets[4].Name: "unreachable: ",
		st.Targets[1].Name: "timed-out: command timed out after 3s",
		st.Targets[0].Name: "ok: ",
	}
	for h, w := range want {
		if !strings.HasPrefix(got[h], w) {
			t.Errorf("%s: %q, want %q", h, got[h], w)
		}
	}
	if !strings.Contains(got[st.Targets[4].Name], "HOST KEY CHANGED") {
		t.Errorf("changed key: %q", got[st.Targets[4].Name])
	}
	okCount := 0
	for _, v := range got {
		if strings.HasPrefix(v, "ok") {
			okCount++
		}
	}
	if okCount != len(st.Targets)-2 {
		t.Errorf("%d ok hosts, want %d", okCount, len(st.Targets)-2)
	}
	// Each broken host is given up within its own timeout while the others finish.
	if took > 20*time.Second {
		t.Errorf("the run took %s with 3 s timeouts", took)
	}
	// ANSIBLE_HOST_KEY_CHECKING=False accepts the changed key, as Ansible does.
	_, _, code = execCmd(t, []string{"OPS_SSH_KNOWN_HOSTS=" + kh, "ANSIBLE_HOST_KEY_CHECKING=False"}, "", "-i", inv, st.Targets[4].Name, "--", "true")
	if code != 0 {
		t.Errorf("host key checking off: exit %d", code)
	}
}

func TestExecPatternsAndUsersMatchAnsible(t *testing.T) {
	st := needHosts(t, 20)
	for _, p := range []string{"all", "lab_web:!status_maintenance", "lab_db:&batch_worker", "lab0*:!lab_web", "~lab1[0-4]", "lab_web[0]", "lab_db[1:3]"} {
		out, _, code := execCmd(t, nil, "", "-i", st.InventoryPath(), "--list-hosts", p)
		cmd := exec.Command("ansible", "-i", st.InventoryPath(), "--list-hosts", p)
		cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+t.TempDir())
		aout, err := cmd.Output()
		if err != nil || code != 0 {
			t.Fatalf("%s: ansible %v, ops exit %d", p, err, code)
		}
		var want []string
		for _, l := range strings.Split(string(aout), "\n")[1:] {
			if l = strings.TrimSpace(l); l != "" {
				want = append(want, l)
			}
		}
		got := strings.Fields(out)
		if !slices.Equal(got, want) {
			t.Errorf("%s: ops %v, ansible %v", p, got, want)
		}
	}
	// The login user: ansible_user, then -u, then ANSIBLE_REMOTE_USER.
	inv := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(inv, []byte(fmt.Sprintf("a ansible_host=%s\nb ansible_host=%s ansible_user=%s\n", st.Targets[0].Addr, st.Targets[1].Addr, lab.TargetUser)), 0o644)
	out, _, _ := execCmd(t, []string{"ANSIBLE_REMOTE_USER=" + lab.TargetUser}, "", "-i", inv, "--fold", "all", "--", "id", "-un")
	if !strings.Contains(out, "a,b (2) ok\n| "+lab.TargetUser+"\n") {
		t.Errorf("ANSIBLE_REMOTE_USER: %q", out)
	}
	out, _, code := execCmd(t, []string{"ANSIBLE_REMOTE_USER=" + lab.TargetUser}, "", "-i", inv, "--json", "-u", "nobody", "all", "--", "id", "-un")
	if code != 4 || !strings.Contains(out, `"host":"a","status":"unreachable"`) || !strings.Contains(out, `"host":"b","status":"ok"`) {
		t.Errorf("-u under ansible_user: exit %d %s", code, out)
	}
	if _, stderr, code := execCmd(t, nil, "", "-i", inv, "all"); code != 2 || !strings.Contains(stderr, "needs a command") {
		t.Errorf("no command: %d %q", code, stderr)
	}
	if _, stderr, code := execCmd(t, nil, "", "-i", inv, "nosuch", "--", "true"); code != 1 || !strings.Contains(stderr, `no hosts matched "nosuch"`) {
		t.Errorf("no hosts: %d %q", code, stderr)
	}
}

func TestExecIsRecordedWithHostResults(t *testing.T) {
	st := needHosts(t, 20)
	dir := filepath.Join(t.TempDir(), "log")
	t.Cleanup(func() { waitForPushers(t, dir) }) // before the directory goes
	cmd := exec.Command(filepath.Join(os.Getenv("OPS_BIN"), "ops"), "exec", "-i", st.InventoryPath(), "-K", "lab_web", "--", "sh", "-c", "id -u; exit 3")
	cmd.Env = append([]string{"PATH=" + toolsOnly(t, "git"), "HOME=" + t.TempDir()}, labEnv(t, "OPS_LOG_DIR="+dir, "OPS_LOG_PROJECT=x")...)
	cmd.Stdin = strings.NewReader(st.BecomePassword + "\n")
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("exit %d", code)
	}
	entry := gitOut(t, dir, "log", "-1", "-p", "--format=%B", "x")
	if !strings.Contains(entry, "[failed]") || !strings.Contains(entry, "result: failed\n") || !strings.Contains(entry, "exit: 3") {
		t.Errorf("entry:\n%s", entry)
	}
	if strings.Contains(entry, st.BecomePassword) {
		t.Error("the become password is in the run log")
	}
}

// The agent reaches the targets only with --forward-agent, read-only; a
// command killed by a signal is failed with 128+n, as a shell reports it.
func TestExecAgentForwardingAndSignals(t *testing.T) {
	st := needHosts(t, 20)
	hosts := st.Targets[0].Name + "," + st.Targets[1].Name
	out, stderr, code := execCmd(t, nil, "", "-i", st.InventoryPath(), "--json", hosts, "--",
		"sh", "-c", `echo "agent:${SSH_AUTH_SOCK:+yes}"`)
	if code != 0 || strings.Count(out, `agent:\n`) != 2 {
		t.Errorf("without --forward-agent: exit %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = execCmd(t, nil, "", "-i", st.InventoryPath(), "--json", "--forward-agent", hosts, "--",
		"sh", "-c", `ssh-add -l | grep -c ED25519; ssh-add -D; echo removed=$?`)
	if code != 0 || strings.Count(out, `"1\nremoved=1\n"`) != 2 {
		t.Errorf("--forward-agent: one key listed and none removable on each host: exit %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = execCmd(t, nil, "", "-i", st.InventoryPath(), "--json", hosts, "--", "sh", "-c", `kill -9 $$`)
	if code != 2 || strings.Count(out, `"exit":137`) != 2 || strings.Count(out, "killed by SIGKILL") != 2 {
		t.Errorf("killed by a signal: exit %d\n%s\n%s", code, out, stderr)
	}
}

// whoAmI sets $name to the lab host a command runs on, even under sudo
// (which drops SSH_CONNECTION): the targets share this machine, and each
// one's sshd listener names its own config, .lab/targets/NAME/sshd_config.
const whoAmI = `p=$$; name=; while [ "$p" -gt 1 ]; do c=$(tr '\0' ' ' < /proc/$p/cmdline); ` +
	`case "$c" in "sshd: "*"/targets/"*"/sshd_config"*) name=$(echo "$c" | sed 's|.*/targets/\([^/]*\)/sshd_config.*|\1|'); break;; esac; ` +
	`p=$(cut -d' ' -f4 /proc/$p/stat); done; [ -n "$name" ]`

// ops exec where the issue puts it: in the image on the operation server,
// through remote-container, with the Mackerel inventory, the operator's
// agent forwarded from here and the become password typed at the prompt.
// Each host leaves a root-owned mark named after itself.
func TestExecInsideRemoteContainer(t *testing.T) {
	st := needHosts(t, 20)
	ensureDeployed(t)
	marks := "/var/tmp/ops-exec-marks"
	os.RemoveAll(marks)
	defer os.RemoveAll(marks)
	cmd, ptmx, _ := startInPTY(t, labEnv(t, "OPS_LOG_ENABLED=false"), 40, 200, "remote-container", "ops", "exec",
		"-i", "/usr/local/bin/mackerel-inventory", "-K", "all", "--",
		"sh", "-c", whoAmI+` && mkdir -p `+marks+` && touch `+marks+`/$name && id -un`)
	var screen bytes.Buffer
	expect(t, ptmx, &screen, "BECOME password:", 60*time.Second)
	ptmx.Write([]byte(st.BecomePassword + "\r"))
	err := cmd.Wait()
	expect(t, ptmx, &screen, "ops exec:", 5*time.Second)
	if err != nil {
		t.Fatalf("exit %v\n%s", err, screen.String())
	}
	var want, got []string
	for _, h := range lab.MackerelHosts(st) {
		if !h.IsRetired && (h.Status == "working" || h.Status == "standby") {
			want = append(want, h.Name)
			if !regexp.MustCompile(`(?m)^` + h.Name + ` +\| root\r?$`).Match(screen.Bytes()) {
				t.Errorf("%s: no line saying it ran as root", h.Name)
			}
		}
	}
	ents, _ := os.ReadDir(marks)
	for _, e := range ents {
		if fi, _ := e.Info(); fi.Sys().(*syscall.Stat_t).Uid == 0 {
			got = append(got, e.Name())
		}
	}
	slices.Sort(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("root-owned marks %v, want %v", got, want)
	}
	if bytes.Contains(screen.Bytes(), []byte(st.BecomePassword)) {
		t.Error("the password was echoed")
	}
}
