//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two named sites (both the lab's one operation server until the lab has
// a second): check and deploy reach each, at once, each reported under
// its name; what the user can get wrong is exit 2 and one line.
func TestSitesCheckAndDeploy(t *testing.T) {
	st := labState(t)
	ensureDeployed(t)
	b, err := os.ReadFile(st.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	server := "server:\n  host: " + st.OpServerDest() + "\n  docker_socket: " + st.OpServerSocket + "\n"
	if !strings.Contains(string(b), server) {
		t.Fatalf("the lab's ops.yaml has no %q", server)
	}
	site := func(name string) string {
		return "  " + name + ":\n    host: " + st.OpServerDest() + "\n    docker_socket: " + st.OpServerSocket + "\n    share: all\n"
	}
	conf := filepath.Join(t.TempDir(), "ops.yaml")
	os.WriteFile(conf, []byte(strings.Replace(string(b), server, "sites:\n"+site("east")+site("west"), 1)), 0o600)
	env := append(labEnv(t), "OPS_CONFIG="+conf)

	out, errs, code := opsCmd(t, env, "config", "--json")
	var cj struct {
		Sites []struct{ Name, Host, Share string }
	}
	if err := json.Unmarshal([]byte(out), &cj); code != 0 || err != nil || len(cj.Sites) != 2 || cj.Sites[0].Name != "east" || cj.Sites[1].Host != st.OpServerDest() || cj.Sites[1].Share != "all" {
		t.Errorf("config --json: exit %d %v %+v\n%s", code, err, cj, errs)
	}
	out, errs, code = opsCmd(t, env, "check", "--site", "all")
	if code != 0 || !strings.HasPrefix(out, "site east (") || !strings.Contains(out, "\nsite west (") || strings.Count(out, "\nok      mackerel ") != 2 {
		t.Errorf("check --site all: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = opsCmd(t, env, "check", "--site", "west", "--json")
	var items []struct {
		Site, Check string
		OK          bool
	}
	if err := json.Unmarshal([]byte(out), &items); code != 0 || err != nil || len(items) < 6 {
		t.Fatalf("check --json: exit %d %v\n%s%s", code, err, out, errs)
	}
	for _, it := range items {
		if it.Site != "west" || !it.OK {
			t.Errorf("check --site west --json: %+v", it)
		}
	}
	out, errs, code = opsCmd(t, env, "deploy", "--no-build", "--site", "all")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "east sha256:") || lines[1] != "west"+strings.TrimPrefix(lines[0], "east") {
		t.Errorf("deploy --site all: exit %d\n%s%s", code, out, errs)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "--site", "north"}, `ops: --site: unknown site "north" (known: east, west)`},
		{[]string{"--server", st.OpServerDest(), "check", "--site", "east"}, "ops: server.host (flag --server) and sites ("},
	} {
		out, errs, code := opsCmd(t, env, tc.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errs, tc.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errs, tc.want)
		}
	}
	// Without sites, --site is a mistake.
	if _, errs, code := opsCmd(t, labEnv(t), "check", "--site", "east"); code != 2 || !strings.Contains(errs, "no sites are configured") {
		t.Errorf("--site without sites: exit %d %q", code, errs)
	}
}
