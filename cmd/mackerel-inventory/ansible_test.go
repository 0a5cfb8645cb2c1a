package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The built binary through real Ansible, against the in-process API.
func TestThroughRealAnsible(t *testing.T) {
	for _, tool := range []string{"ansible", "ansible-inventory"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (Debian's ansible-core): %v", tool, err)
		}
	}
	bin := filepath.Join(t.TempDir(), "mackerel-inventory")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	_, srv := newFake(t)
	environ := append(os.Environ(),
		"MACKEREL_APIKEY=good-key", "MACKEREL_APIBASE="+srv.URL,
		"MACKEREL_INVENTORY_CACHE_DIR="+t.TempDir(), "ANSIBLE_INVENTORY_UNPARSED_WARNING=true",
		"ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_NOCOLOR=1")
	ansible := func(extra []string, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(slices.Clone(environ), extra...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		return out.String(), errb.String()
	}

	out, stderr := ansible(nil, "ansible-inventory", "-i", bin, "--list")
	if strings.Contains(stderr, "WARNING") {
		t.Errorf("ansible-inventory warned:\n%s", stderr)
	}
	var inv map[string]any
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatal(err)
	}
	hv := inv["_meta"].(map[string]any)["hostvars"].(map[string]any)
	var names []string
	for h := range hv {
		names = append(names, h)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"db1", "job1", "web1"}) {
		t.Errorf("hosts %v", names)
	}
	if got := hv["web1"].(map[string]any)["ansible_host"]; got != "10.0.0.1" {
		t.Errorf("web1 ansible_host %v", got)
	}

	listHosts := func(extra []string, pattern string) []string {
		out, stderr := ansible(extra, "ansible", "-i", bin, "--list-hosts", pattern)
		if strings.Contains(stderr, "WARNING") {
			t.Errorf("%s warned:\n%s", pattern, stderr)
		}
		var hosts []string
		for _, l := range strings.Split(out, "\n")[1:] {
			if l = strings.TrimSpace(l); l != "" {
				hosts = append(hosts, l)
			}
		}
		slices.Sort(hosts)
		return hosts
	}
	withMaint := []string{"MACKEREL_INVENTORY_STATUSES=working,standby,maintenance"}
	for _, tc := range []struct {
		extra   []string
		pattern string
		want    []string
	}{
		{withMaint, "shop_web:!status_maintenance", []string{"job1", "web1"}},
		{withMaint, "shop_web", []string{"job1", "web1", "web2"}},
		{withMaint, "shop:&status_standby", []string{"db1"}},
		{nil, "shop_web:!status_maintenance", []string{"job1", "web1"}},
		{nil, "batch_worker", []string{"job1"}},
	} {
		if got := listHosts(tc.extra, tc.pattern); !slices.Equal(got, tc.want) {
			t.Errorf("%v %s: %v, want %v", tc.extra, tc.pattern, got, tc.want)
		}
	}
}
