//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ops-team/ops/internal/lab"
)

// restrictToJump lets only the targets' login user (so: sshd sessions on
// the lab's other hosts, a jump host's forwarding) connect to addr:22;
// root's direct connections (ops, ansible's ssh) are refused.
func restrictToJump(t *testing.T, addr string) {
	t.Helper()
	rule := []string{"OUTPUT", "-o", "lo", "-p", "tcp", "-d", addr, "--dport", "22", "-m", "owner", "!", "--uid-owner", lab.TargetUser, "-j", "REJECT"}
	if out, err := exec.Command("iptables", append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("iptables", append([]string{"-D"}, rule...)...).Run() })
}

// A repository laid out as real ones are: an inventory directory of INI
// and YAML files found through ansible.cfg, group_vars directories and
// files, host_vars, the login user only in group_vars, and one host
// reached only through a jump host named in an ssh config file. ops exec
// and ansible -m raw reach the same hosts, as the same users, with the
// same results; ops inventory --list equals ansible-inventory --list.
func TestRealAnsibleRepository(t *testing.T) {
	st := needHosts(t, 20)
	tg := st.Targets
	repo := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(repo, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ansible.cfg", "[defaults]\ninventory = inventory\n")
	var ini strings.Builder
	ini.WriteString("[web]\n")
	for _, h := range tg[0:4] {
		fmt.Fprintf(&ini, "%s ansible_host=%s\n", h.Name, h.Addr)
	}
	ini.WriteString("[etcd]\n")
	for _, h := range tg[8:10] {
		fmt.Fprintf(&ini, "%s ansible_host=%s\n", h.Name, h.Addr)
	}
	write("inventory/10-web", ini.String()) // Ansible skips .ini files in an inventory directory
	var yml strings.Builder
	yml.WriteString("all:\n  children:\n    db:\n      hosts:\n")
	for _, h := range tg[4:8] {
		fmt.Fprintf(&yml, "        %s:\n          ansible_host: %s\n", h.Name, h.Addr)
	}
	yml.WriteString("    backend:\n      children:\n        db:\n        etcd:\n")
	write("inventory/20-db.yml", yml.String())
	write("inventory/group_vars/all/connection.yml", "ansible_user: "+lab.TargetUser+"\n")
	write("inventory/group_vars/all/site.yml", "site: lab\nmotd: \"{{ site }}-{{ inventory_hostname }}\"\n")
	write("inventory/group_vars/db.yml", "role: database\nansible_group_priority: 2\n")
	write("inventory/group_vars/backend", "role: backend\n")
	write("inventory/host_vars/"+tg[5].Name+".yml", "role: primary\n")
	// The fourth db host is reached only through the second web host.
	jumped, jump := tg[6], tg[1]
	restrictToJump(t, jumped.Addr)
	sshConfig := filepath.Join(repo, "ssh_config")
	write("ssh_config", fmt.Sprintf("Host %s\n  ProxyJump %s@%s\nHost *\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n",
		jumped.Addr, lab.TargetUser, jump.Addr, st.KnownHosts()))

	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ANSIBLE_") && !strings.HasPrefix(kv, "OPS_") {
			env = append(env, kv)
		}
	}
	// ansible gets the ssh config through ANSIBLE_SSH_ARGS, ops through
	// its own setting; neither through root's ~/.ssh/config.
	env = append(env, "HOME="+home, "SSH_AUTH_SOCK="+st.AgentSock, "ANSIBLE_SSH_ARGS=-F "+sshConfig,
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "tmp"), "OPS_CONFIG=/dev/null", "OPS_LOG_ENABLED=false",
		"OPS_SSH_CONFIG="+sshConfig, "OPS_SSH_KNOWN_HOSTS="+st.KnownHosts())
	run := func(name string, args ...string) (string, string, int) {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = repo, env
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		return out.String(), errb.String(), cmd.ProcessState.ExitCode()
	}
	ops := filepath.Join(os.Getenv("OPS_BIN"), "ops")
	command := whoAmI + ` && echo "ran-on $name as $(id -un)"`

	aout, aerr, acode := run("ansible", "all:!etcd", "-m", "raw", "-a", command)
	oout, oerr, ocode := run(ops, "exec", "all:!etcd", "--", command)
	if acode != 0 || ocode != 0 {
		t.Fatalf("ansible exit %d, ops exit %d\nansible:\n%s%s\nops:\n%s%s", acode, ocode, aout, aerr, oout, oerr)
	}
	parse := func(out string, line *regexp.Regexp) map[string]string {
		got := map[string]string{}
		for _, m := range line.FindAllStringSubmatch(out, -1) {
			got[m[1]] = m[2]
		}
		return got
	}
	// ansible: "lab01 | CHANGED | rc=0 >>" then the host's output; ops:
	// "lab01 | output".
	ansibleRuns, current := map[string]string{}, ""
	head, ran := regexp.MustCompile(`^(\S+) \| \w+ \| rc=\d+ >>$`), regexp.MustCompile(`ran-on (\S+ as \S+)`)
	for _, l := range strings.Split(aout, "\n") {
		if m := head.FindStringSubmatch(l); m != nil {
			current = m[1]
		} else if m := ran.FindStringSubmatch(l); m != nil && current != "" {
			ansibleRuns[current] = strings.TrimSpace(m[1])
		}
	}
	opsRuns := parse(oout, regexp.MustCompile(`(?m)^(\S+) +\| ran-on (\S+ as \S+)$`))
	if len(opsRuns) != 8 || !reflect.DeepEqual(opsRuns, ansibleRuns) {
		t.Errorf("ops reached %v\nansible reached %v", opsRuns, ansibleRuns)
	}
	if opsRuns[jumped.Name] != jumped.Name+" as "+lab.TargetUser {
		t.Errorf("the host behind the jump: %q", opsRuns[jumped.Name])
	}
	// Without the jump host the restricted host is unreachable: the
	// restriction is real.
	if _, _, code := run(ops, "exec", "-T", "3", jumped.Name, "--ssh-common-args", "-F /dev/null", "--", "true"); code != 4 {
		t.Errorf("direct to the restricted host: exit %d, want 4", code)
	}

	// ops inventory --list is ansible-inventory --list.
	ainv, aerr, acode := run("ansible-inventory", "--list")
	oinv, oerr, ocode := run(ops, "inventory", "--list")
	var a, o any
	if acode != 0 || ocode != 0 || json.Unmarshal([]byte(ainv), &a) != nil || json.Unmarshal([]byte(oinv), &o) != nil {
		t.Fatalf("ansible-inventory exit %d, ops inventory exit %d\n%s\n%s", acode, ocode, aerr, oerr)
	}
	if !reflect.DeepEqual(a, o) {
		t.Errorf("ops inventory --list:\n%s\nansible-inventory --list:\n%s", oinv, ainv)
	}
}
