package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// runInventoryArgs runs `ops inventory ARGS` through its cli.Command and
// the exit code mapping.
func runInventoryArgs(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["HOME"]; !ok {
		env["HOME"] = t.TempDir() // no ~/.ansible.cfg of the machine's
	}
	d := &deps{streams: streams{in: strings.NewReader(""), out: &out, err: &errb}, getenv: func(k string) string { return env[k] },
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	app := &cli.App{Name: "ops", Commands: []*cli.Command{inventoryCommand(d)}, ExitErrHandler: func(*cli.Context, error) {}}
	ctx := context.Background()
	err := app.RunContext(ctx, append([]string{"ops", "inventory"}, args...))
	return exitCode(ctx, err, &errb), out.String(), errb.String()
}

func writeRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"inventory/hosts": `lonely ansible_host=10.0.0.9 n=1 s="'x'"
[web]
web[01:02].example.com ansible_user=deploy
db1:2222

[db]
db1 ansible_host="10.0.0.1"

[prod:children]
web
db

[prod:vars]
env=prod
ansible_group_priority=2
`,
		"inventory/more.yml": `all:
  children:
    cache:
      hosts:
        c1: {ansible_port: 2200, tier: "{{ env }}-{{ inventory_hostname }}"}
`,
		"inventory/group_vars/all.yml":          "region: eu\nenv: base\n",
		"inventory/group_vars/web/main.yml":     "app: shop\n",
		"inventory/group_vars/web/sub/more.yml": "app_port: 8080\n",
		"inventory/host_vars/db1.yml":           "role: primary\nsecret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n",
		"play/group_vars/prod.yml":              "env: from-playbook-dir\n",
	}
	for p, c := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestInventoryPrintsWhatAnsibleInventoryPrints(t *testing.T) {
	dir := writeRepo(t)
	src := filepath.Join(dir, "inventory")
	play := filepath.Join(dir, "play")
	for _, args := range [][]string{
		{"--list"},
		{"--host", "db1"},
		{"--host", "c1"},
		{"--graph"},
		{"--graph", "prod"},
	} {
		full := append([]string{"-i", src, "--playbook-dir", play, "-e", "x=1 y='two words'", "-e", `{"z": [1, 2]}`}, args...)
		code, out, errOut := runInventoryArgs(t, nil, full...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		ai, err := exec.LookPath("ansible-inventory")
		if err != nil {
			t.Logf("ansible-inventory not installed: %v not compared", args)
			continue
		}
		cmd := exec.Command(ai, full...)
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(dir, "none.cfg"), "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_HOME="+t.TempDir())
		cmd.Dir = dir
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("ansible-inventory %v: %v", args, err)
		}
		if out != string(want) {
			t.Errorf("%v:\nops:\n%s\nansible-inventory:\n%s", args, out, want)
		}
	}
}

func TestInventoryUsageErrors(t *testing.T) {
	dir := writeRepo(t)
	src := filepath.Join(dir, "inventory")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-i", src}, "needs one of --list"},
		{[]string{"-i", src, "--list", "--graph"}, "only one of"},
		{[]string{"-i", src, "--host", "nosuch"}, "no such host"},
		{[]string{"-i", src, "--graph", "nosuch"}, "no group nosuch"},
		{[]string{"-i", filepath.Join(dir, "missing"), "--list"}, "missing"},
		{[]string{"-i", src, "-e", "@" + filepath.Join(dir, "nofile.yml"), "--list"}, "nofile.yml"},
		{[]string{"-i", src, "--list", "extra"}, "unexpected"},
	} {
		code, out, errOut := runInventoryArgs(t, nil, c.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", c.args, code, out, errOut, c.want)
		}
	}
	// An unparsable source is refused, naming it.
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("all: [unclosed\n"), 0o644)
	if code, _, errOut := runInventoryArgs(t, nil, "-i", bad, "--list"); code != exitUsage || !strings.Contains(errOut, bad) {
		t.Errorf("unparsable source: exit %d, %q", code, errOut)
	}
}

func TestInventoryDefaultSourcesAndLimit(t *testing.T) {
	dir := writeRepo(t)
	src := filepath.Join(dir, "inventory")
	code, out, errOut := runInventoryArgs(t, map[string]string{"ANSIBLE_INVENTORY": src}, "--graph", "--limit", "web")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"@web:", "--web01.example.com", "--db1"} {
		if !strings.Contains(out, want) {
			t.Errorf("graph lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "lonely") || strings.Contains(out, "--c1") {
		t.Errorf("the limit let other hosts through:\n%s", out)
	}
	code, out, errOut = runInventoryArgs(t, nil, "-i", "127.0.0.1:1,[::1]:2222,h9", "--host", "127.0.0.1")
	if code != 0 || !strings.Contains(out, `"ansible_port": 1`) {
		t.Errorf("host list with a port: exit %d, %s%s", code, out, errOut)
	}
	var d deps
	d.getenv = func(string) string { return "" }
	if got := inventorySources(&d, nil, []string{"from-ansible-cfg"}); len(got) != 1 || got[0] != "from-ansible-cfg" {
		t.Errorf("default sources: %v", got)
	}
	if got := inventorySources(&d, nil, nil); len(got) != 1 || got[0] != "/etc/ansible/hosts" {
		t.Errorf("no sources: %v", got)
	}
}
